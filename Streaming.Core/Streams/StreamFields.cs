namespace AgentStreaming.Streaming.Streams;

/// <summary>Field names of a run stream's entries (a superset of the original sample's <c>text</c>, <c>sequence</c>, <c>timestamp</c>, <c>done</c>, <c>error</c>).</summary>
internal static class StreamFields
{
    /// <summary>Chunk text; empty on entries that are not text.</summary>
    public const string Text = "text";

    /// <summary>1, 2, 3… per run, strictly increasing across attempts (each claim starts at the next multiple of 1,000,000); the entry id is <c>&lt;sequence&gt;-0</c>.</summary>
    public const string Sequence = "sequence";

    /// <summary>Unix milliseconds when the entry was written.</summary>
    public const string Timestamp = "timestamp";

    /// <summary><c>"true"</c> on the success terminal.</summary>
    public const string Done = "done";

    /// <summary>Human-readable message on failure and cancellation terminals.</summary>
    public const string Error = "error";

    /// <summary>The entry kind (<see cref="StreamEntryKinds.ToWireName"/>).</summary>
    public const string Type = "type";

    /// <summary>1-based attempt number.</summary>
    public const string Attempt = "attempt";

    /// <summary>Compact JSON of non-text events.</summary>
    public const string Data = "data";

    /// <summary>W3C trace context of the run, on the first entry an attempt writes.</summary>
    public const string TraceParent = "traceparent";
}

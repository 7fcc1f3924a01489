namespace AgentStreaming.Streaming.Streams;

/// <summary>The kind of an entry in a run's stream, written in the entry's <c>type</c> field.</summary>
public enum StreamEntryKind
{
    /// <summary>A piece of the agent's answer text.</summary>
    Text,

    /// <summary>A new attempt of the run begins: readers drop the text of earlier attempts.</summary>
    Reset,

    /// <summary>The agent called a tool; <see cref="StreamChunk.Data"/> holds the call as JSON.</summary>
    ToolCall,

    /// <summary>A tool returned; <see cref="StreamChunk.Data"/> holds a summary of the result as JSON.</summary>
    ToolResult,

    /// <summary>Token usage reported by the model; <see cref="StreamChunk.Data"/> holds the counts as JSON.</summary>
    Usage,

    /// <summary>Terminal: the run succeeded.</summary>
    Done,

    /// <summary>Terminal: the run failed; <see cref="StreamChunk.Error"/> says why.</summary>
    Error,

    /// <summary>Terminal: the run was cancelled.</summary>
    Cancelled,
}

/// <summary>Wire names of <see cref="StreamEntryKind"/> values and helpers over them.</summary>
public static class StreamEntryKinds
{
    /// <summary>Returns the wire name of a kind (the value of the entry's <c>type</c> field).</summary>
    /// <param name="kind">The kind.</param>
    /// <returns><c>text</c>, <c>reset</c>, <c>tool_call</c>, <c>tool_result</c>, <c>usage</c>, <c>done</c>, <c>error</c> or <c>cancelled</c>.</returns>
    public static string ToWireName(this StreamEntryKind kind) => kind switch
    {
        StreamEntryKind.Text => "text",
        StreamEntryKind.Reset => "reset",
        StreamEntryKind.ToolCall => "tool_call",
        StreamEntryKind.ToolResult => "tool_result",
        StreamEntryKind.Usage => "usage",
        StreamEntryKind.Done => "done",
        StreamEntryKind.Error => "error",
        StreamEntryKind.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown stream entry kind."),
    };

    /// <summary>Parses a wire name.</summary>
    /// <param name="value">The <c>type</c> field's value.</param>
    /// <param name="kind">The kind, when known.</param>
    /// <returns><see langword="true"/> when <paramref name="value"/> names a known kind.</returns>
    public static bool TryParse(string? value, out StreamEntryKind kind)
    {
        switch (value)
        {
            case "text": kind = StreamEntryKind.Text; return true;
            case "reset": kind = StreamEntryKind.Reset; return true;
            case "tool_call": kind = StreamEntryKind.ToolCall; return true;
            case "tool_result": kind = StreamEntryKind.ToolResult; return true;
            case "usage": kind = StreamEntryKind.Usage; return true;
            case "done": kind = StreamEntryKind.Done; return true;
            case "error": kind = StreamEntryKind.Error; return true;
            case "cancelled": kind = StreamEntryKind.Cancelled; return true;
            default: kind = default; return false;
        }
    }

    /// <summary>Whether an entry of this kind ends the run's stream.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns><see langword="true"/> for <c>done</c>, <c>error</c> and <c>cancelled</c>.</returns>
    public static bool IsTerminal(this StreamEntryKind kind)
        => kind is StreamEntryKind.Done or StreamEntryKind.Error or StreamEntryKind.Cancelled;
}

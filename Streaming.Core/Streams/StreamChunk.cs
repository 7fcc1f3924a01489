namespace AgentStreaming.Streaming.Streams;

/// <summary>One entry of a run's stream as a reader sees it.</summary>
/// <param name="EntryId">The Redis Stream entry id; pass it as the cursor to resume after this entry.</param>
/// <param name="Kind">What the entry is.</param>
/// <param name="Text">The answer text this entry carries; empty on entries that are not text.</param>
/// <param name="Sequence">The entry's position: 1, 2, 3… per run, strictly increasing across attempts (each attempt, and each writer that takes over, starts at the next multiple of 1,000,000); the entry id is <c>&lt;sequence&gt;-0</c>.</param>
/// <param name="Attempt">The 1-based attempt of the run that wrote the entry.</param>
/// <param name="Timestamp">When the entry was written.</param>
/// <param name="Error">The failure or cancellation message on <c>error</c> and <c>cancelled</c> entries.</param>
/// <param name="Data">Compact JSON on tool call, tool result and usage entries.</param>
public readonly record struct StreamChunk(
    string EntryId,
    StreamEntryKind Kind,
    string Text,
    long Sequence,
    int Attempt,
    DateTimeOffset Timestamp,
    string? Error = null,
    string? Data = null)
{
    /// <summary>Whether this entry ends the stream (<c>done</c>, <c>error</c> or <c>cancelled</c>).</summary>
    public bool IsTerminal => Kind.IsTerminal();

    /// <summary>The entry id as a cursor.</summary>
    public StreamCursor Cursor => StreamCursor.Parse(EntryId);
}

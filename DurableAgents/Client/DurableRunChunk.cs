using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>
/// What an entry of a run's stream is: answer text, a new attempt, a tool call or result, token usage (the last three
/// carry JSON in <see cref="DurableRunChunk.Data"/>), or one of the three terminal entries that end the stream.
/// </summary>
/// <remarks>The values are those of the stream's own kinds, one for one (a test keeps them so).</remarks>
public enum DurableRunChunkKind
{
    /// <summary>Answer text in <see cref="DurableRunChunk.Text"/>.</summary>
    Text = 0,

    /// <summary>A new attempt begins (its worker was lost): text of earlier attempts is to be dropped.</summary>
    Reset = 1,

    /// <summary>The agent called a tool.</summary>
    ToolCall = 2,

    /// <summary>A tool returned (a summary of its result).</summary>
    ToolResult = 3,

    /// <summary>Token counts reported by the model.</summary>
    Usage = 4,

    /// <summary>The run succeeded (terminal).</summary>
    Done = 5,

    /// <summary>The run failed, <see cref="DurableRunChunk.Error"/> says why (terminal).</summary>
    Error = 6,

    /// <summary>The run was cancelled (terminal).</summary>
    Cancelled = 7,
}

/// <summary>One entry of a run's response stream, as a reader of the run sees it.</summary>
/// <param name="Cursor">The entry's position in the stream (a Redis Stream entry id); pass it back to resume strictly after this entry.</param>
/// <param name="Sequence">The entry's position: 1, 2, 3… per run, strictly increasing across attempts (each attempt, and each writer that takes over, starts at the next multiple of 1,000,000); the entry id is <c>&lt;sequence&gt;-0</c>.</param>
/// <param name="Attempt">The 1-based attempt of the run that wrote the entry.</param>
/// <param name="Kind">What the entry is.</param>
/// <param name="Text">The answer text this entry carries; empty on entries that are not text.</param>
/// <param name="Timestamp">When the entry was written.</param>
/// <param name="Error">The failure or cancellation message on <c>error</c> and <c>cancelled</c> entries.</param>
/// <param name="Data">Compact JSON on tool call, tool result and usage entries.</param>
public readonly record struct DurableRunChunk(
    string Cursor,
    long Sequence,
    int Attempt,
    DurableRunChunkKind Kind,
    string Text,
    DateTimeOffset Timestamp,
    string? Error = null,
    string? Data = null)
{
    /// <summary>Whether nothing follows this entry: it is <see cref="DurableRunChunkKind.Done"/>, <see cref="DurableRunChunkKind.Error"/> or <see cref="DurableRunChunkKind.Cancelled"/>.</summary>
    public bool IsTerminal => Kind is DurableRunChunkKind.Done or DurableRunChunkKind.Error or DurableRunChunkKind.Cancelled;

    /// <summary>
    /// The entry's type as the stream stores it: <c>text</c>, <c>reset</c>, <c>tool_call</c>, <c>tool_result</c>,
    /// <c>usage</c>, <c>done</c>, <c>error</c> or <c>cancelled</c> (the SSE event name of the HTTP API).
    /// </summary>
    public string TypeName => ((StreamEntryKind)Kind).ToWireName();

    internal static DurableRunChunk From(in StreamChunk chunk)
        => new(chunk.EntryId, chunk.Sequence, chunk.Attempt, (DurableRunChunkKind)chunk.Kind, chunk.Text, chunk.Timestamp, chunk.Error, chunk.Data);
}

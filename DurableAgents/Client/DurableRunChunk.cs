using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>What an entry of a run's stream is.</summary>
public enum DurableRunChunkKind
{
    /// <summary>A piece of the agent's answer text.</summary>
    Text,

    /// <summary>A new attempt of the run begins (its worker was lost): drop the text of earlier attempts.</summary>
    Reset,

    /// <summary>The agent called a tool; <see cref="DurableRunChunk.Data"/> holds the call as JSON.</summary>
    ToolCall,

    /// <summary>A tool returned; <see cref="DurableRunChunk.Data"/> holds a summary of the result as JSON.</summary>
    ToolResult,

    /// <summary>Token usage reported by the model; <see cref="DurableRunChunk.Data"/> holds the counts as JSON.</summary>
    Usage,

    /// <summary>Terminal: the run succeeded.</summary>
    Done,

    /// <summary>Terminal: the run failed; <see cref="DurableRunChunk.Error"/> says why.</summary>
    Error,

    /// <summary>Terminal: the run was cancelled.</summary>
    Cancelled,
}

/// <summary>One entry of a run's response stream, as a reader of the run sees it.</summary>
/// <param name="Cursor">The entry's position in the stream (a Redis Stream entry id); pass it back to resume strictly after this entry.</param>
/// <param name="Kind">What the entry is.</param>
/// <param name="Text">The answer text this entry carries; empty on entries that are not text.</param>
/// <param name="Sequence">0, 1, 2… per run, strictly increasing across attempts.</param>
/// <param name="Attempt">The 1-based attempt of the run that wrote the entry.</param>
/// <param name="Timestamp">When the entry was written.</param>
/// <param name="Error">The failure or cancellation message on <c>error</c> and <c>cancelled</c> entries.</param>
/// <param name="Data">Compact JSON on tool call, tool result and usage entries.</param>
public readonly record struct DurableRunChunk(
    string Cursor,
    DurableRunChunkKind Kind,
    string Text,
    long Sequence,
    int Attempt,
    DateTimeOffset Timestamp,
    string? Error = null,
    string? Data = null)
{
    /// <summary>Whether this entry ends the run's stream (<c>done</c>, <c>error</c> or <c>cancelled</c>).</summary>
    public bool IsTerminal => Kind is DurableRunChunkKind.Done or DurableRunChunkKind.Error or DurableRunChunkKind.Cancelled;

    /// <summary>
    /// The entry's type as the stream stores it: <c>text</c>, <c>reset</c>, <c>tool_call</c>, <c>tool_result</c>,
    /// <c>usage</c>, <c>done</c>, <c>error</c> or <c>cancelled</c> (the SSE event name of the HTTP API).
    /// </summary>
    public string TypeName => ((StreamEntryKind)Kind).ToWireName();

    internal static DurableRunChunk From(in StreamChunk chunk)
        => new(chunk.EntryId, (DurableRunChunkKind)chunk.Kind, chunk.Text, chunk.Sequence, chunk.Attempt, chunk.Timestamp, chunk.Error, chunk.Data);
}

using System.Diagnostics;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Client.Rendering;

/// <summary>What the client has seen of one run: where to resume, and the numbers of the summary line.</summary>
internal sealed class RunProgress(string runId, string? conversationId, string? cursor = null)
{
    private readonly long _started = Stopwatch.GetTimestamp();

    /// <summary>The run.</summary>
    public string RunId { get; } = runId;

    /// <summary>The run's conversation, when known (not for <c>--run</c>).</summary>
    public string? ConversationId { get; } = conversationId;

    /// <summary>The entry id of the last entry shown, or <see langword="null"/> before the first.</summary>
    public string? Cursor { get; private set; } = cursor;

    /// <summary>Time from the start (of the run, or of reading) to the first text chunk.</summary>
    public TimeSpan? FirstChunkAfter { get; private set; }

    /// <summary>Text chunks shown.</summary>
    public int TextChunks { get; private set; }

    /// <summary>Entries shown.</summary>
    public int Entries { get; private set; }

    /// <summary>The attempt of the last entry shown.</summary>
    public int Attempt { get; private set; } = 1;

    /// <summary>Time since the run was started (or reading began).</summary>
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_started);

    /// <summary>Notes an entry as shown.</summary>
    /// <param name="chunk">The entry.</param>
    public void Record(StreamChunk chunk)
    {
        Cursor = chunk.EntryId;
        Entries++;
        Attempt = chunk.Attempt;
        if (chunk.Kind == StreamEntryKind.Text)
        {
            TextChunks++;
            FirstChunkAfter ??= Elapsed;
        }
    }
}

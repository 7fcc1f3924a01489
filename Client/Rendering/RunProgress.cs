using System.Diagnostics;
using AgentStreaming.DurableAgents.Client;
using Microsoft.Extensions.AI;

namespace AgentStreaming.Client.Rendering;

/// <summary>What the client has seen of one run: the continuation token to resume with, and the numbers of the summary line.</summary>
/// <param name="runId">The run.</param>
/// <param name="conversationId">The run's conversation, when known.</param>
/// <param name="token">Where to resume; the run's start when <see langword="null"/>.</param>
internal sealed class RunProgress(string runId, string? conversationId, ResponseContinuationToken? token = null)
{
    private readonly long _started = Stopwatch.GetTimestamp();

    /// <summary>The run.</summary>
    public string RunId { get; } = runId;

    /// <summary>The run's conversation, when known (not for <c>--run</c>).</summary>
    public string? ConversationId { get; } = conversationId;

    /// <summary>The continuation token of the last update shown (or of the run's start): reading resumes strictly after it.</summary>
    public ResponseContinuationToken Token { get; set; } = token ?? DurableAgentContinuationToken.ForRun(runId);

    /// <summary>The entry id the token resumes after (what <c>--cursor</c> takes), or <see langword="null"/> before the first entry.</summary>
    public string? Cursor => DurableAgentContinuationToken.FromToken(Token).AfterEntryId;

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

    /// <summary>Notes an update as shown.</summary>
    /// <param name="chunk">Its stream entry.</param>
    /// <param name="token">Its continuation token (none on the run's last update, after which nothing is left to resume).</param>
    public void Record(DurableRunChunk chunk, ResponseContinuationToken? token)
    {
        if (token is not null)
        {
            Token = token;
        }

        Entries++;
        Attempt = chunk.Attempt;
        if (chunk.Kind == DurableRunChunkKind.Text)
        {
            TextChunks++;
            FirstChunkAfter ??= Elapsed;
        }
    }
}

using System.Diagnostics;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Failover.Tests;

/// <summary>
/// A client reading a run's stream from its start in the background (120 s at most), as the hand-over and crash tests
/// watch a run: every entry in order, and the moments the tenth text entry and the first reset (a new attempt) arrived.
/// </summary>
internal sealed class RunWatcher
{
    private readonly TaskCompletionSource _tenTexts = new();
    private readonly TaskCompletionSource<long> _resetSeen = new();

    private RunWatcher(DurableAgentClient client, string runId) => Reading = Task.Run(() => ReadAsync(client, runId));

    /// <summary>Every entry read so far; all of them once <see cref="Reading"/> has completed.</summary>
    public List<DurableRunChunk> Chunks { get; } = [];

    /// <summary>Completes when the tenth text entry has been read.</summary>
    public Task TenTexts => _tenTexts.Task;

    /// <summary>The <see cref="Stopwatch.GetTimestamp"/> at which the first reset entry was read.</summary>
    public Task<long> ResetSeen => _resetSeen.Task;

    /// <summary>Completes when the stream has ended.</summary>
    public Task Reading { get; }

    /// <summary>Starts reading <paramref name="runId"/>'s stream from its start.</summary>
    public static RunWatcher Start(DurableAgentClient client, string runId) => new(client, runId);

    private async Task ReadAsync(DurableAgentClient client, string runId)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await foreach (var chunk in client.StreamAsync(runId, cancellationToken: cts.Token))
        {
            lock (Chunks)
            {
                Chunks.Add(chunk);
                if (Chunks.Count(c => c.Kind == DurableRunChunkKind.Text) == 10)
                {
                    _tenTexts.TrySetResult();
                }
            }

            if (chunk.Kind == DurableRunChunkKind.Reset)
            {
                _resetSeen.TrySetResult(Stopwatch.GetTimestamp());
            }
        }
    }
}

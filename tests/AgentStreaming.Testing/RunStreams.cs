using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Testing;

/// <summary>Reading a run's stream through a <see cref="DurableAgentClient"/>, as the durable-agent tests do.</summary>
public static class RunStreams
{
    /// <summary>Reads a run's stream from its start to its end.</summary>
    /// <param name="client">The client.</param>
    /// <param name="runId">The run.</param>
    /// <param name="timeout">How long the whole read may take.</param>
    /// <returns>Every entry, in order.</returns>
    /// <exception cref="TimeoutException">The run did not end within <paramref name="timeout"/> (the message says how far it got).</exception>
    public static async Task<List<DurableRunChunk>> ReadAllAsync(DurableAgentClient client, string runId, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var cts = new CancellationTokenSource(timeout);
        var chunks = new List<DurableRunChunk>();
        try
        {
            await foreach (var chunk in client.StreamAsync(runId, cancellationToken: cts.Token).ConfigureAwait(false))
            {
                chunks.Add(chunk);
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Run {runId} did not end within {timeout}: {chunks.Count} entries read, the last {(chunks.Count > 0 ? chunks[^1].Kind.ToString() : "none")}.");
        }

        return chunks;
    }

    /// <summary>Reads a run's stream until its first text entry: the run is executing.</summary>
    /// <param name="client">The client.</param>
    /// <param name="runId">The run.</param>
    /// <param name="timeout">How long to wait for it (default 60 s).</param>
    /// <returns>A task that completes at the first text entry, or when the stream ends without one.</returns>
    /// <exception cref="TimeoutException">No text entry and no end within <paramref name="timeout"/>.</exception>
    public static async Task FirstTextAsync(DurableAgentClient client, string runId, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await foreach (var chunk in client.StreamAsync(runId, cancellationToken: cts.Token).ConfigureAwait(false))
            {
                if (chunk.Kind == DurableRunChunkKind.Text)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Run {runId} wrote no text entry within {limit}.");
        }
    }
}

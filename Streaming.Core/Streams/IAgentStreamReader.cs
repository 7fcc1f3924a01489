namespace AgentStreaming.Streaming.Streams;

/// <summary>Reads a run's stream from the start or after a cursor, live, until its terminal entry.</summary>
public interface IAgentStreamReader
{
    /// <summary>
    /// Reads the entries of a run's stream strictly after <paramref name="cursor"/> (or from the start), then waits
    /// for new ones, and ends after the terminal entry.
    /// </summary>
    /// <param name="runId">The run id.</param>
    /// <param name="cursor">The entry id of the last entry already received, or <see langword="null"/> to read from the start.</param>
    /// <param name="cancellationToken">Stops the read promptly.</param>
    /// <returns>
    /// The entries, in order, each exactly once. Delivery is checked: every entry's <c>sequence</c> follows the previous
    /// one's (only a <c>reset</c> may jump, over the abandoned attempt's trimmed entries); a hole is filled from Redis
    /// before the entry after it is delivered, or the read fails with <see cref="AgentStreamGapException"/>.
    /// </returns>
    /// <exception cref="ArgumentException">The run id or cursor is malformed (thrown before Redis is touched).</exception>
    /// <exception cref="AgentStreamNotFoundException">The stream does not exist (after the configured wait) or expired while being read.</exception>
    /// <exception cref="AgentStreamUnavailableException">Redis was unreachable for longer than the reconnect deadline.</exception>
    /// <exception cref="AgentStreamGapException">Entries between two delivered ones are missing and no longer in Redis.</exception>
    IAsyncEnumerable<StreamChunk> ReadStreamAsync(string runId, string? cursor = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Probes a run's stream once, without waiting: whether it exists, whether it expired, and where its terminal entry is.
    /// </summary>
    /// <param name="runId">The run id.</param>
    /// <param name="cancellationToken">Stops the probe (and its retries) promptly.</param>
    /// <returns>The stream's state at the time of the probe.</returns>
    /// <remarks>
    /// Costs one pipelined round trip: <c>HGET meta seq</c> then <c>XREVRANGE stream + - COUNT 1</c>, retried while
    /// Redis is transiently unreachable.
    /// </remarks>
    /// <exception cref="ArgumentException">The run id is malformed (thrown before Redis is touched).</exception>
    /// <exception cref="AgentStreamUnavailableException">Redis was unreachable for longer than the reconnect deadline.</exception>
    Task<AgentStreamState> GetStateAsync(string runId, CancellationToken cancellationToken = default);
}

namespace AgentStreaming.Streaming.Streams;

/// <summary>Builds the Redis keys of a run's stream.</summary>
/// <remarks>
/// The stream key is <c>{prefix}{runId}</c> (default <c>agent-stream:&lt;runId&gt;</c>), which the original sample's
/// readers read when given the run id. A small hash beside it holds the writer's fencing state (current attempt, next
/// sequence, terminal flag): <c>{agent-stream:&lt;runId&gt;}:meta</c>. Its hash tag is the whole stream key, and a key
/// without braces hashes as a whole, so both keys of a run share one Redis Cluster hash slot and the writer's script
/// may name both. The prefix must therefore contain no braces. Run ids are validated so no key carries arbitrary user
/// text (<see cref="RunIds"/>).
/// </remarks>
internal sealed class StreamKeys
{
    private readonly string _prefix;

    /// <summary>Creates the key builder.</summary>
    /// <param name="prefix">The key prefix, e.g. <c>agent-stream:</c>.</param>
    /// <exception cref="ArgumentException"><paramref name="prefix"/> is empty or contains <c>{</c> or <c>}</c>.</exception>
    public StreamKeys(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        if (prefix.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            throw new ArgumentException("A stream key prefix must not contain '{' or '}': the run's keys use the whole stream key as their Redis Cluster hash tag.", nameof(prefix));
        }

        _prefix = prefix;
    }

    /// <summary>The prefix every stream key starts with.</summary>
    public string Prefix => _prefix;

    /// <summary>The stream key of a run.</summary>
    /// <param name="runId">The run id.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException"><paramref name="runId"/> is not a valid run id.</exception>
    public string Stream(string runId) => _prefix + RunIds.Validate(runId);

    /// <summary>The metadata hash key of a run.</summary>
    /// <param name="runId">The run id.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException"><paramref name="runId"/> is not a valid run id.</exception>
    public string Meta(string runId) => "{" + _prefix + RunIds.Validate(runId) + "}:meta";

    /// <summary>The sharded Pub/Sub channel on which writers announce new entries of a run (read by the Redis Cluster tail).</summary>
    /// <param name="runId">The run id.</param>
    /// <returns>The channel name, in the run's hash slot.</returns>
    /// <exception cref="ArgumentException"><paramref name="runId"/> is not a valid run id.</exception>
    public string Notify(string runId) => "{" + _prefix + RunIds.Validate(runId) + "}:notify";

    /// <summary>
    /// The Pub/Sub channel (not a key) on which a single server's writers announce which streams received entries, once
    /// per flush of the write pump: <c>{prefix}changes</c>, e.g. <c>agent-stream:changes</c>.
    /// </summary>
    public string Changes => _prefix + "changes";
}

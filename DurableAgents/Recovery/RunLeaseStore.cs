using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Recovery;

/// <summary>
/// Claims on conversations with unfinished runs, in one Redis sorted set (member: conversation key, score: the
/// claim's expiry in Unix ms). The worker executing a conversation renews its claim; when a worker dies its claims
/// expire and any worker's <see cref="RunRecoveryService"/> re-drives the conversation.
/// </summary>
internal sealed class RunLeaseStore
{
    private const string ClaimScript = """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
        for _, member in ipairs(due) do
          redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
        end
        return due
        """;

    private readonly IConnectionMultiplexer _multiplexer;
    private readonly RedisKey _key;
    private readonly TimeProvider _time;

    /// <summary>Creates the store.</summary>
    /// <param name="multiplexer">The shared Redis connection.</param>
    /// <param name="serviceId">The Orleans service id (claims of different services do not mix).</param>
    /// <param name="time">The clock.</param>
    public RunLeaseStore(IConnectionMultiplexer multiplexer, string serviceId, TimeProvider time)
    {
        _multiplexer = multiplexer;
        _key = $"durable-agents:{serviceId}:run-leases";
        _time = time;
    }

    /// <summary>Claims (or renews the claim on) a conversation until now + <paramref name="duration"/> (<c>ZADD</c>).</summary>
    /// <param name="conversationKey">The conversation.</param>
    /// <param name="duration">How long the claim lasts.</param>
    /// <returns>A task that completes when Redis has it.</returns>
    public Task RenewAsync(string conversationKey, TimeSpan duration)
        => _multiplexer.GetDatabase().SortedSetAddAsync(_key, conversationKey, (_time.GetUtcNow() + duration).ToUnixTimeMilliseconds());

    /// <summary>Drops the claim: the conversation has no unfinished run (<c>ZREM</c>).</summary>
    /// <param name="conversationKey">The conversation.</param>
    /// <returns>A task that completes when Redis has it.</returns>
    public Task RemoveAsync(string conversationKey) => _multiplexer.GetDatabase().SortedSetRemoveAsync(_key, conversationKey);

    /// <summary>Takes over expired claims (extending them by <paramref name="duration"/>) atomically, so one worker recovers each.</summary>
    /// <param name="duration">How long the new claim lasts.</param>
    /// <param name="max">The most claims taken at once.</param>
    /// <returns>The conversations to recover.</returns>
    public async Task<IReadOnlyList<string>> ClaimExpiredAsync(TimeSpan duration, int max = 100)
    {
        var now = _time.GetUtcNow();
        var result = await _multiplexer.GetDatabase().ScriptEvaluateAsync(
            ClaimScript, [_key], [now.ToUnixTimeMilliseconds(), (now + duration).ToUnixTimeMilliseconds(), max]).ConfigureAwait(false);
        return ((RedisResult[])result!).Select(r => r.ToString()).ToArray();
    }
}

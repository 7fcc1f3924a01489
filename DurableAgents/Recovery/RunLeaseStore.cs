using System.IO.Hashing;
using System.Text;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Recovery;

/// <summary>
/// Claims on conversations with unfinished runs, in <see cref="ShardCount"/> Redis sorted sets
/// (<c>durable-agents:{serviceId}:run-leases:{shard}</c>, the shard a hash of the conversation key; member: conversation
/// key, score: the claim's expiry in Unix ms). The worker executing a conversation renews its claim; when a worker dies
/// its claims expire and any worker's <see cref="RunRecoveryService"/> re-drives the conversation.
/// </summary>
/// <remarks>
/// The shards' keys hash to different Redis Cluster slots, so on a cluster the claims of many runs spread over the
/// primaries instead of loading one node; every command and the claim script touch one key. The set of earlier versions
/// (<c>…:run-leases</c>, one key) is still scanned and cleaned, so claims written before an upgrade are recovered.
/// </remarks>
internal class RunLeaseStore
{
    private const string ClaimScript = """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
        for _, member in ipairs(due) do
          redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
        end
        return due
        """;

    /// <summary>How many sorted sets the claims are spread over.</summary>
    public const int ShardCount = 16;

    private readonly IConnectionMultiplexer _multiplexer;
    private readonly RedisKey[] _shards;
    private readonly RedisKey _legacyKey;
    private readonly TimeProvider _time;

    /// <summary>Creates the store.</summary>
    /// <param name="multiplexer">The shared Redis connection.</param>
    /// <param name="serviceId">The Orleans service id (claims of different services do not mix).</param>
    /// <param name="time">The clock.</param>
    public RunLeaseStore(IConnectionMultiplexer multiplexer, string serviceId, TimeProvider time)
    {
        _multiplexer = multiplexer;
        _legacyKey = $"durable-agents:{serviceId}:run-leases";
        _shards = [.. Enumerable.Range(0, ShardCount).Select(i => (RedisKey)$"durable-agents:{serviceId}:run-leases:{i}")];
        _time = time;
    }

    /// <summary>The sorted set that holds a conversation's claim.</summary>
    /// <param name="conversationKey">The conversation.</param>
    /// <returns>Its shard's key.</returns>
    public RedisKey KeyOf(string conversationKey)
        => _shards[XxHash32.HashToUInt32(Encoding.UTF8.GetBytes(conversationKey)) % ShardCount];

    /// <summary>Claims (or renews the claim on) a conversation until now + <paramref name="duration"/> (<c>ZADD</c>).</summary>
    /// <param name="conversationKey">The conversation.</param>
    /// <param name="duration">How long the claim lasts.</param>
    /// <returns>A task that completes when Redis has it.</returns>
    public Task RenewAsync(string conversationKey, TimeSpan duration)
        => _multiplexer.GetDatabase().SortedSetAddAsync(KeyOf(conversationKey), conversationKey, (_time.GetUtcNow() + duration).ToUnixTimeMilliseconds());

    /// <summary>Drops the claim: the conversation has no unfinished run (<c>ZREM</c> on its shard and on the set of earlier versions).</summary>
    /// <param name="conversationKey">The conversation.</param>
    /// <returns>A task that completes when Redis has it.</returns>
    public virtual Task RemoveAsync(string conversationKey)
    {
        var database = _multiplexer.GetDatabase();
        return Task.WhenAll(
            database.SortedSetRemoveAsync(KeyOf(conversationKey), conversationKey),
            database.SortedSetRemoveAsync(_legacyKey, conversationKey));
    }

    /// <summary>
    /// Takes over expired claims (extending them by <paramref name="duration"/>) atomically per shard, so one worker
    /// recovers each: one script per shard, sent together.
    /// </summary>
    /// <param name="duration">How long the new claim lasts.</param>
    /// <param name="max">The most claims taken at once from each shard.</param>
    /// <returns>The conversations to recover.</returns>
    public async Task<IReadOnlyList<string>> ClaimExpiredAsync(TimeSpan duration, int max = 100)
    {
        var now = _time.GetUtcNow();
        var database = _multiplexer.GetDatabase();
        RedisValue[] args = [now.ToUnixTimeMilliseconds(), (now + duration).ToUnixTimeMilliseconds(), max];
        var results = await Task.WhenAll(_shards.Append(_legacyKey).Select(key => database.ScriptEvaluateAsync(ClaimScript, [key], args))).ConfigureAwait(false);
        return [.. results.SelectMany(result => (RedisResult[])result!).Select(r => r.ToString())];
    }
}

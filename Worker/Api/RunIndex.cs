using AgentStreaming.Streaming.Streams;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AgentStreaming.Worker.Api;

/// <summary>Where a run accepted through the API belongs: its agent and conversation.</summary>
/// <param name="AgentName">The agent.</param>
/// <param name="ConversationId">The conversation.</param>
internal readonly record struct RunLocation(string AgentName, string ConversationId);

/// <summary>
/// A small Redis index of the runs the API accepted, <c>agent-run:{runId}</c> → agent and conversation, kept as long
/// as conversations live. It lets the API find a run's conversation (to cancel it or show its state) from the run id
/// alone, and tell a run that never existed (404, answered at once) from one whose stream expired (410).
/// </summary>
/// <remarks>A hash per run: <c>HSET key agent … conversation …</c> + <c>PEXPIRE</c> in one transaction; read with <c>HMGET</c>.</remarks>
internal sealed class RunIndex
{
    private const string AgentField = "agent";
    private const string ConversationField = "conversation";
    private readonly IConnectionMultiplexer _redis;
    private readonly string _prefix;

    public RunIndex(IConnectionMultiplexer redis, IOptions<AgentApiOptions> options)
    {
        _redis = redis;
        _prefix = options.Value.RunIndexKeyPrefix;
    }

    /// <summary>Records a run.</summary>
    public async Task RecordAsync(string runId, RunLocation location, TimeSpan ttl)
    {
        var key = Key(runId);
        var transaction = _redis.GetDatabase().CreateTransaction();
        _ = transaction.HashSetAsync(key, [new(AgentField, location.AgentName), new(ConversationField, location.ConversationId)]);
        _ = transaction.KeyExpireAsync(key, ttl);
        await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>Finds a run, or <see langword="null"/> when the API never accepted it (or its conversation expired).</summary>
    public async Task<RunLocation?> FindAsync(string runId)
    {
        var values = await _redis.GetDatabase().HashGetAsync(Key(runId), [AgentField, ConversationField]).ConfigureAwait(false);
        return values is [{ HasValue: true } agent, { HasValue: true } conversation]
            ? new RunLocation(agent.ToString(), conversation.ToString())
            : null;
    }

    private RedisKey Key(string runId) => _prefix + StreamKeys.ValidateRunId(runId);
}

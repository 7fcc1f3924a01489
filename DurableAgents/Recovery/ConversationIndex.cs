using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Recovery;

/// <summary>A conversation in the index.</summary>
/// <param name="AgentName">The agent.</param>
/// <param name="ConversationId">The conversation.</param>
/// <param name="LastActivity">When a run was last accepted or finished.</param>
internal sealed record ConversationIndexEntry(string AgentName, string ConversationId, DateTimeOffset LastActivity);

/// <summary>
/// The conversations of a service, most recently active first, in one Redis sorted set (member: conversation key,
/// score: last activity in Unix ms), so dashboards and APIs can list them without scanning grain storage.
/// </summary>
internal sealed class ConversationIndex
{
    private readonly IConnectionMultiplexer _multiplexer;
    private readonly RedisKey _key;

    /// <summary>Creates the index.</summary>
    /// <param name="multiplexer">The shared Redis connection.</param>
    /// <param name="serviceId">The Orleans service id.</param>
    public ConversationIndex(IConnectionMultiplexer multiplexer, string serviceId)
    {
        _multiplexer = multiplexer;
        _key = $"durable-agents:{serviceId}:conversations";
    }

    /// <summary>Records activity (<c>ZADD</c>).</summary>
    /// <param name="conversationKey">The conversation's grain key.</param>
    /// <param name="at">When.</param>
    /// <returns>A task that completes when Redis has it.</returns>
    public Task TouchAsync(string conversationKey, DateTimeOffset at)
        => _multiplexer.GetDatabase().SortedSetAddAsync(_key, conversationKey, at.ToUnixTimeMilliseconds());

    /// <summary>Forgets a deleted conversation (<c>ZREM</c>).</summary>
    /// <param name="conversationKey">The conversation's grain key.</param>
    /// <returns>A task that completes when Redis has it.</returns>
    public Task RemoveAsync(string conversationKey) => _multiplexer.GetDatabase().SortedSetRemoveAsync(_key, conversationKey);

    /// <summary>The most recently active conversations (<c>ZRANGE … REV WITHSCORES</c>).</summary>
    /// <param name="take">How many.</param>
    /// <returns>The entries, newest first.</returns>
    public async Task<IReadOnlyList<ConversationIndexEntry>> ListAsync(int take = 100)
    {
        var entries = await _multiplexer.GetDatabase().SortedSetRangeByRankWithScoresAsync(_key, 0, Math.Max(0, take - 1), Order.Descending).ConfigureAwait(false);
        return entries.Select(e =>
        {
            var (agent, conversation) = DurableAgentNames.ParseConversationKey(e.Element.ToString());
            return new ConversationIndexEntry(agent, conversation, DateTimeOffset.FromUnixTimeMilliseconds((long)e.Score));
        }).ToList();
    }
}

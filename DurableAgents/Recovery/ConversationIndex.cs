using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Recovery;

/// <summary>A conversation in the index.</summary>
/// <param name="AgentName">The agent.</param>
/// <param name="ConversationId">The conversation.</param>
/// <param name="LastActivity">When a run was last accepted or finished.</param>
internal sealed record ConversationIndexEntry(string AgentName, string ConversationId, DateTimeOffset LastActivity);

/// <summary>
/// The conversations of a service, most recently active first, in one Redis sorted set (member: conversation key,
/// score: last activity in Unix ms), so dashboards and APIs can list them without scanning grain storage; and the same
/// per owner (<c>…:conversations:owner:{owner}</c>), so a principal's own conversations are listed without filtering.
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

    /// <summary>Records activity (<c>ZADD</c>, a second one into the owner's set when the conversation has an owner).</summary>
    /// <param name="conversationKey">The conversation's grain key.</param>
    /// <param name="at">When.</param>
    /// <param name="owner">The conversation's owner, if any.</param>
    /// <returns>A task that completes when Redis has it.</returns>
    public Task TouchAsync(string conversationKey, DateTimeOffset at, string? owner = null)
    {
        var db = _multiplexer.GetDatabase();
        var score = at.ToUnixTimeMilliseconds();
        return owner is null
            ? db.SortedSetAddAsync(_key, conversationKey, score)
            : Task.WhenAll(db.SortedSetAddAsync(_key, conversationKey, score), db.SortedSetAddAsync(OwnerKey(owner), conversationKey, score));
    }

    /// <summary>Forgets a deleted conversation (<c>ZREM</c>).</summary>
    /// <param name="conversationKey">The conversation's grain key.</param>
    /// <returns>A task that completes when Redis has it.</returns>
    public Task RemoveAsync(string conversationKey) => _multiplexer.GetDatabase().SortedSetRemoveAsync(_key, conversationKey);

    /// <summary>The most recently active conversations (<c>ZRANGE … REV WITHSCORES</c>), of every owner or of one.</summary>
    /// <param name="take">How many.</param>
    /// <param name="owner">Only this owner's conversations, or <see langword="null"/> for all.</param>
    /// <returns>The entries, newest first.</returns>
    public async Task<IReadOnlyList<ConversationIndexEntry>> ListAsync(int take = 100, string? owner = null)
    {
        var key = owner is null ? _key : OwnerKey(owner);
        var entries = await _multiplexer.GetDatabase().SortedSetRangeByRankWithScoresAsync(key, 0, Math.Max(0, take - 1), Order.Descending).ConfigureAwait(false);
        return entries.Select(e =>
        {
            var (agent, conversation) = DurableAgentNames.ParseConversationKey(e.Element.ToString());
            return new ConversationIndexEntry(agent, conversation, DateTimeOffset.FromUnixTimeMilliseconds((long)e.Score));
        }).ToList();
    }

    private RedisKey OwnerKey(string owner) => _key.Append(":owner:" + owner);
}

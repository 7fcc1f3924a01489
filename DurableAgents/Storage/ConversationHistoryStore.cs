using System.Text.Json;
using System.Text.Json.Serialization;
using AgentStreaming.Streaming.Resilience;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Storage;

/// <summary>
/// The history of every conversation of a service, as an append-only log in Redis: one list per conversation
/// (<c>durable-agents:{serviceId}:history:{agent}/{conversation}</c>), one JSON element per finished run
/// (<see cref="ConversationTurn"/>). Recording a turn sends that turn's bytes only, however long the conversation is,
/// so the grain's own state keeps just the runs in flight.
/// </summary>
/// <remarks>
/// A turn is appended with <c>RPUSH</c> and the key's expiry refreshed with <c>PEXPIRE</c> in one transaction (then a
/// <c>WAIT</c> for the replicas when <c>AgentStreaming:Redis:ReplicaAcks</c> asks for it); a
/// conversation is loaded with one <c>LRANGE 0 -1</c> when its grain activates. A turn sent twice (a retry after a lost
/// reply) is stored twice; <see cref="LoadAsync"/> keeps the last turn of each run. One key per conversation, so it
/// runs unchanged on Redis Cluster.
/// </remarks>
internal sealed class ConversationHistoryStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly IConnectionMultiplexer _multiplexer;
    private readonly RedisReplicaAcks? _replicas;
    private readonly string _prefix;

    /// <summary>Creates the store.</summary>
    /// <param name="multiplexer">The shared Redis connection.</param>
    /// <param name="serviceId">The Orleans service id (histories of different services do not mix).</param>
    /// <param name="replicas">When it is enabled, a turn counts as recorded only once the replicas have it.</param>
    public ConversationHistoryStore(IConnectionMultiplexer multiplexer, string serviceId, RedisReplicaAcks? replicas = null)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        ArgumentException.ThrowIfNullOrEmpty(serviceId);
        _multiplexer = multiplexer;
        _replicas = replicas;
        _prefix = $"durable-agents:{serviceId}:history:";
    }

    /// <summary>The Redis key of a conversation's log.</summary>
    /// <param name="conversationKey">The conversation's grain key (<c>{agent}/{conversation}</c>, validated names only).</param>
    /// <returns>The key.</returns>
    public RedisKey Key(string conversationKey) => _prefix + conversationKey;

    /// <summary>Appends turns and refreshes the log's expiry (<c>RPUSH</c> + <c>PEXPIRE</c> in one <c>MULTI</c>).</summary>
    /// <param name="conversationKey">The conversation's grain key.</param>
    /// <param name="turns">The turns, oldest first.</param>
    /// <param name="ttl">How long the log lives after this write (the conversation's time-to-live).</param>
    /// <returns>A task that completes when Redis has them.</returns>
    public async Task AppendAsync(string conversationKey, IReadOnlyList<ConversationTurn> turns, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(turns);
        if (turns.Count == 0)
        {
            return;
        }

        var key = Key(conversationKey);
        var values = new RedisValue[turns.Count];
        for (var i = 0; i < turns.Count; i++)
        {
            values[i] = JsonSerializer.SerializeToUtf8Bytes(turns[i], Json);
        }

        var transaction = _multiplexer.GetDatabase().CreateTransaction();
        _ = transaction.ListRightPushAsync(key, values);
        _ = transaction.KeyExpireAsync(key, ttl);
        await transaction.ExecuteAsync().ConfigureAwait(false);
        if (_replicas is { Enabled: true } replicas)
        {
            // A turn sent again after a failed wait is stored twice at worst, and LoadAsync keeps one.
            await replicas.WaitAsync(key).ConfigureAwait(false);
        }
    }

    /// <summary>Loads a conversation's turns, oldest first, keeping the last turn stored for each run (<c>LRANGE 0 -1</c>).</summary>
    /// <param name="conversationKey">The conversation's grain key.</param>
    /// <returns>The turns; empty when the conversation has none (or expired).</returns>
    /// <exception cref="InvalidDataException">An element is not a turn (the key was written by something else).</exception>
    public async Task<IReadOnlyList<ConversationTurn>> LoadAsync(string conversationKey)
    {
        var values = await _multiplexer.GetDatabase().ListRangeAsync(Key(conversationKey)).ConfigureAwait(false);
        var turns = new List<ConversationTurn>(values.Length);
        var byRun = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            ConversationTurn? turn;
            try
            {
                turn = JsonSerializer.Deserialize<ConversationTurn>((byte[])value!, Json);
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"The history of conversation '{conversationKey}' holds an element that is not a turn: {ex.Message}", ex);
            }

            if (turn is null)
            {
                continue;
            }

            if (turn.RunId is { } runId && byRun.TryGetValue(runId, out var index))
            {
                turns[index] = turn;
            }
            else
            {
                if (turn.RunId is { } id)
                {
                    byRun[id] = turns.Count;
                }

                turns.Add(turn);
            }
        }

        return turns;
    }

    /// <summary>Deletes a conversation's log (<c>DEL</c>).</summary>
    /// <param name="conversationKey">The conversation's grain key.</param>
    /// <returns>A task that completes when Redis has deleted it.</returns>
    public Task DeleteAsync(string conversationKey) => _multiplexer.GetDatabase().KeyDeleteAsync(Key(conversationKey));
}

using AgentStreaming.Streaming.Streams;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Recovery;

/// <summary>
/// A small Redis index of every accepted run, <c>agent-run:{runId}</c> → agent, conversation and owner, kept as long as
/// conversations live. It lets APIs find a run's conversation from the run id alone, and tell a run that never
/// existed (answered at once) from one whose stream expired.
/// </summary>
/// <remarks>
/// A hash per run: <c>HSET key agent … conversation …</c> + <c>PEXPIRE</c> in one transaction; read with <c>HMGET</c>.
/// The conversation grain records a run in the same round trip that persists it, whoever started it.
/// </remarks>
internal sealed class RunIndex : IDisposable
{
    /// <summary>The key prefix of run entries.</summary>
    public const string KeyPrefix = "agent-run:";

    private const string AgentField = "agent";
    private const string ConversationField = "conversation";
    private const string OwnerField = "owner";
    private const string TraceField = "trace";
    private readonly IConnectionMultiplexer _redis;
    private readonly Lock _gate = new();
    private CancellationTokenSource? _connected;
    private bool _watching;

    /// <summary>Creates the index.</summary>
    /// <param name="redis">The shared Redis connection.</param>
    public RunIndex(IConnectionMultiplexer redis) => _redis = redis;

    /// <summary>Whether the Redis connection is up right now (no command is sent).</summary>
    public bool IsConnected => _redis.IsConnected;

    /// <summary>
    /// A token cancelled when the Redis connection fails (the multiplexer's <c>ConnectionFailed</c> event, raised as
    /// soon as the socket is known lost); already cancelled while the connection is down. Each connection period has
    /// its own token: take a new one once connected again.
    /// </summary>
    public CancellationToken ConnectionLostToken
    {
        get
        {
            lock (_gate)
            {
                if (!_watching)
                {
                    // Subscribed on first use: only hosts that watch the connection pay for it.
                    _watching = true;
                    _redis.ConnectionFailed += OnConnectionFailed;
                }

                if (!_redis.IsConnected)
                {
                    return new CancellationToken(canceled: true);
                }

                if (_connected is null || _connected.IsCancellationRequested)
                {
                    // The cancelled source is not disposed: tokens handed out during its period may still be registered on.
                    _connected = new CancellationTokenSource();
                }

                return _connected.Token;
            }
        }
    }

    /// <summary>Stops watching the connection (the connection itself is the caller's).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_watching)
            {
                _redis.ConnectionFailed -= OnConnectionFailed;
                _watching = false;
            }

            _connected?.Dispose();
            _connected = null;
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType != ConnectionType.Interactive)
        {
            return;
        }

        CancellationTokenSource? connected;
        lock (_gate)
        {
            connected = _connected;
        }

        try
        {
            // Outside the lock: the callbacks (readers stopping) may run on this thread.
            connected?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed as the host stops.
        }
    }

    /// <summary>Records a run.</summary>
    /// <param name="runId">The run.</param>
    /// <param name="location">Its agent, conversation and owner.</param>
    /// <param name="ttl">How long the entry lives (the conversation's time-to-live).</param>
    /// <param name="traceParent">The run's W3C trace context, so a reader's resume can link to the run's trace.</param>
    /// <returns>A task that completes when Redis has it.</returns>
    public async Task RecordAsync(string runId, RunLocation location, TimeSpan ttl, string? traceParent = null)
    {
        var key = Key(runId);
        var transaction = _redis.GetDatabase().CreateTransaction();
        var fields = new List<HashEntry>(4) { new(AgentField, location.AgentName), new(ConversationField, location.ConversationId) };
        if (location.Owner is { } owner)
        {
            fields.Add(new(OwnerField, owner));
        }

        if (!string.IsNullOrEmpty(traceParent))
        {
            fields.Add(new(TraceField, traceParent));
        }

        _ = transaction.HashSetAsync(key, [.. fields]);
        _ = transaction.KeyExpireAsync(key, ttl);
        await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    /// <summary>Finds a run, or <see langword="null"/> when it was never accepted (or its conversation expired).</summary>
    /// <param name="runId">The run.</param>
    /// <returns>Its location.</returns>
    public async Task<RunLocation?> FindAsync(string runId)
    {
        var values = await _redis.GetDatabase().HashGetAsync(Key(runId), [AgentField, ConversationField, OwnerField]).ConfigureAwait(false);
        return values is [{ HasValue: true } agent, { HasValue: true } conversation, var owner]
            ? new RunLocation(agent.ToString(), conversation.ToString()) { Owner = owner.HasValue ? owner.ToString() : null }
            : null;
    }

    /// <summary>The run's W3C trace context (<c>HGET agent-run:{runId} trace</c>), or <see langword="null"/> when none was recorded.</summary>
    /// <param name="runId">The run.</param>
    /// <returns>The <c>traceparent</c>.</returns>
    public async Task<string?> FindTraceAsync(string runId)
        => await _redis.GetDatabase().HashGetAsync(Key(runId), TraceField).ConfigureAwait(false) is { HasValue: true } trace ? trace.ToString() : null;

    private static RedisKey Key(string runId) => KeyPrefix + RunIds.Validate(runId);
}

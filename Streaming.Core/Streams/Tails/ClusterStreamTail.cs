using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Resilience;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Tails;

/// <summary>
/// The shared tail on Redis Cluster. A blocking <c>XREAD</c> may only name keys of one hash slot there, and each one
/// holds a connection, so a process's readers cannot share one blocked command. Instead writers announce every batch
/// on the run's sharded channel (<c>SPUBLISH {agent-stream:&lt;runId&gt;}:notify</c>, in the run's slot, so only the
/// node that owns the run carries it), and this tail, subscribed (<c>SSUBSCRIBE</c>) on one connection of its own per
/// node, reads each announced key once for all its readers with <c>XRANGE key (from + COUNT n</c>.
/// </summary>
/// <remarks>
/// A key is read from the position of its furthest-behind reader, at most one read per key at a time; an announcement
/// during a read makes it read again. Announcements lost while the connection was down are made up for when it comes
/// back, and by a sweep of every key each <see cref="RedisAgentStreamingOptions.TailBlockTimeout"/>.
/// </remarks>
internal sealed class ClusterStreamTail : IStreamTail
{
    private readonly IConnectionMultiplexer _shared;
    private readonly Func<string, string> _channelOf;
    private readonly RedisAgentStreamingOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly Dictionary<string, KeyState> _keys = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly TailConnection _connection;
    private ITimer? _sweep;
    private int _count;

    public ClusterStreamTail(
        IConnectionMultiplexer shared,
        Func<ConfigurationOptions> configuration,
        Func<string, string> channelOf,
        RedisAgentStreamingOptions options,
        ILogger logger,
        TimeProvider time)
    {
        _shared = shared;
        // Announcements sent while the subscription connection was down are lost: read every key again.
        _connection = new TailConnection(configuration, ReadAll);
        _channelOf = channelOf;
        _options = options;
        _logger = logger;
        _time = time;
    }

    /// <inheritdoc />
    public int SubscriberCount => Volatile.Read(ref _count);

    /// <inheritdoc />
    public Func<StreamChunk, bool>? LoseEntry { get; set; }

    /// <inheritdoc />
    public TailSubscription Subscribe(string key, StreamCursor after)
    {
        ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
        var subscription = new TailSubscription(this, key, after, Math.Max(1, _options.ReaderBufferLimit / 2));
        KeyState? added = null;
        lock (_gate)
        {
            if (!_keys.TryGetValue(key, out var state))
            {
                _keys[key] = added = state = new KeyState(key, RedisChannel.Sharded(_channelOf(key)));
            }

            state.Subscriptions.Add(subscription);
            _count++;
            _sweep ??= _time.CreateTimer(static s => ((ClusterStreamTail)s!).ReadAll(), this, _options.TailBlockTimeout, _options.TailBlockTimeout);
        }

        StreamingDiagnostics.LiveReadersCounter.Add(1);
        if (added is not null)
        {
            _ = ListenAsync(added);
        }

        Read(key);
        return subscription;
    }

    /// <inheritdoc />
    public void Unsubscribe(TailSubscription subscription)
    {
        KeyState? emptied = null;
        lock (_gate)
        {
            if (_keys.TryGetValue(subscription.Key, out var state) && state.Subscriptions.Remove(subscription))
            {
                _count--;
                StreamingDiagnostics.LiveReadersCounter.Add(-1);
                if (state.Subscriptions.Count == 0)
                {
                    _keys.Remove(subscription.Key);
                    emptied = state;
                }
            }
        }

        if (emptied is not null && _connection.Current is { } connection)
        {
            _ = UnlistenAsync(connection, emptied);
        }
    }

    /// <inheritdoc />
    public void Wake(TailSubscription subscription) => Read(subscription.Key);

    private async Task ListenAsync(KeyState state)
    {
        try
        {
            var connection = await _connection.GetAsync(_stopping.Token).ConfigureAwait(false);
            await connection.GetSubscriber().SubscribeAsync(state.Channel, (_, _) => Read(state.Key)).ConfigureAwait(false);
            lock (_gate)
            {
                state.Listening = true;
            }

            // Entries written before the subscription took effect were announced to no one.
            Read(state.Key);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or OperationCanceledException)
        {
            // The sweep reads the key meanwhile and retries the subscription.
            StreamingLog.TailConnectionLost(_logger, TimeSpan.Zero, ex);
        }
    }

    private static async Task UnlistenAsync(ConnectionMultiplexer connection, KeyState state)
    {
        try
        {
            await connection.GetSubscriber().UnsubscribeAsync(state.Channel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException)
        {
            // The connection is gone, and its subscriptions with it.
        }
    }

    private void ReadAll()
    {
        List<KeyState> all;
        lock (_gate)
        {
            all = [.. _keys.Values];
        }

        foreach (var state in all)
        {
            if (!state.Listening)
            {
                _ = ListenAsync(state);
            }

            Read(state.Key);
        }
    }

    /// <summary>Reads <paramref name="key"/> for its readers now, or once more after the read in flight.</summary>
    private void Read(string key)
    {
        KeyState? state;
        lock (_gate)
        {
            if (!_keys.TryGetValue(key, out state))
            {
                return;
            }

            if (state.Reading)
            {
                state.Again = true;
                return;
            }

            state.Reading = true;
        }

        _ = ReadLoopAsync(state);
    }

    private async Task ReadLoopAsync(KeyState state)
    {
        var database = _shared.GetDatabase();
        var backoff = TimeSpan.Zero;
        while (!_stopping.IsCancellationRequested)
        {
            StreamCursor? from = null;
            lock (_gate)
            {
                state.Again = false;
                from = TailSubscription.ReadFrom(state.Subscriptions, _options.ReaderBufferLimit);

                if (from is null || !ReferenceEquals(_keys.GetValueOrDefault(state.Key), state))
                {
                    state.Reading = false;
                    return;
                }
            }

            StreamEntry[] entries;
            try
            {
                entries = await database.StreamRangeAsync(state.Key, "(" + from.Value.ToString(), "+", _options.ReadBatchSize).ConfigureAwait(false);
                if (state.FailingSince is { } since)
                {
                    var outage = _time.GetUtcNow() - since;
                    StreamingLog.TailReconnected(_logger, outage);
                    state.FailingSince = null;
                    backoff = TimeSpan.Zero;
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                var now = _time.GetUtcNow();
                state.FailingSince ??= now;
                var elapsed = now - state.FailingSince.Value;
                if (elapsed >= _options.ReconnectTimeout || !RedisFailurePolicy.IsTransient(ex))
                {
                    // Past the deadline, or a failure that sending the read again cannot fix.
                    Fail(state, ex, elapsed);
                    return;
                }

                StreamingLog.TailConnectionLost(_logger, elapsed, ex);
                try
                {
                    backoff = RedisFailurePolicy.NextDelay(backoff);
                    await Task.Delay(backoff, _time, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }

            lock (_gate)
            {
                TailSubscription.Offer(state.Subscriptions, from.Value, entries.Select(e => StreamChunkParser.Parse(e)), LoseEntry);
                if (entries.Length < _options.ReadBatchSize && !state.Again)
                {
                    state.Reading = false;
                    return;
                }
            }
        }

        lock (_gate)
        {
            state.Reading = false;
        }
    }

    private void Fail(KeyState state, Exception cause, TimeSpan elapsed)
    {
        List<TailSubscription> failed;
        lock (_gate)
        {
            failed = [.. state.Subscriptions];
            state.Reading = false;
            state.FailingSince = null;
        }

        StreamTails.GiveUp(failed, _logger, elapsed, cause);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        List<TailSubscription> open;
        lock (_gate)
        {
            _sweep?.Dispose();
            open = _keys.Values.SelectMany(k => k.Subscriptions).ToList();
            _keys.Clear();
        }

        StreamTails.Disposed(open);

        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class KeyState(string key, RedisChannel channel)
    {
        public string Key { get; } = key;

        public RedisChannel Channel { get; } = channel;

        public List<TailSubscription> Subscriptions { get; } = [];

        public bool Reading { get; set; }

        public bool Again { get; set; }

        public bool Listening { get; set; }

        public DateTimeOffset? FailingSince { get; set; }
    }
}

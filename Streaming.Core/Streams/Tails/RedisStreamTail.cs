using System.Globalization;
using System.Threading.Channels;
using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Tails;

/// <summary>
/// One blocking <c>XREAD BLOCK … STREAMS k1 k2 … id1 id2 …</c> loop on a connection of its own that serves every
/// live reader of the process and fans the entries out to them: a thousand readers cost one Redis connection and
/// one blocked command, not a thousand.
/// </summary>
/// <remarks>
/// A new reader must join the blocked command: the command also reads a small wake stream of this tail's own
/// (<c>{prefix}tail-wake:{guid}</c>, one entry, expiring), and a joining reader appends to it through the shared
/// multiplexer, which ends the blocked read at once; the loop then re-issues it with the new reader's key.
/// Readers that do not keep up are left out of the command until they drain their buffer.
/// </remarks>
internal sealed class RedisStreamTail : IStreamTail
{
    private readonly IConnectionMultiplexer _shared;
    private readonly RedisAgentStreamingOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly Dictionary<string, List<TailSubscription>> _subscriptions = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly string _blockMilliseconds;
    private Task? _loop;
    private ConnectionMultiplexer? _connection;
    private readonly string _wakeKey;
    private readonly Dictionary<string, StreamCursor> _commandFrom = new(StringComparer.Ordinal);
    private string _lastWakeId = "0-0";
    private long _version;
    private long _snapshotVersion;
    private int _phase;
    private int _wakeInFlight;
    private int _wakeAgain;
    private int _count;

    private readonly Func<ConfigurationOptions> _configuration;

    public RedisStreamTail(IConnectionMultiplexer shared, Func<ConfigurationOptions> configuration, RedisAgentStreamingOptions options, ILogger logger, TimeProvider time)
    {
        _shared = shared;
        _configuration = configuration;
        _options = options;
        _logger = logger;
        _time = time;
        _blockMilliseconds = ((long)options.TailBlockTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        _wakeKey = options.KeyPrefix + "tail-wake:" + Guid.NewGuid().ToString("N");
    }

    /// <inheritdoc />
    public Func<StreamChunk, bool>? LoseEntry { get; set; }

    /// <summary>Readers currently subscribed.</summary>
    public int SubscriberCount => Volatile.Read(ref _count);

    /// <summary>Starts delivering the entries of <paramref name="key"/> after <paramref name="after"/>.</summary>
    public TailSubscription Subscribe(string key, StreamCursor after)
    {
        ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
        var subscription = new TailSubscription(this, key, after, Math.Max(1, _options.ReaderBufferLimit / 2));
        lock (_gate)
        {
            if (!_subscriptions.TryGetValue(key, out var list))
            {
                _subscriptions[key] = list = [];
            }

            list.Add(subscription);
            _version++;
            _count++;
            _loop ??= Task.Run(RunAsync);
        }

        StreamingDiagnostics.LiveReadersCounter.Add(1);
        Wake();
        return subscription;
    }

    public void Unsubscribe(TailSubscription subscription)
    {
        lock (_gate)
        {
            if (_subscriptions.TryGetValue(subscription.Key, out var list) && list.Remove(subscription))
            {
                _count--;
                if (list.Count == 0)
                {
                    _subscriptions.Remove(subscription.Key);
                }

                StreamingDiagnostics.LiveReadersCounter.Add(-1);
            }
        }
    }

    /// <inheritdoc />
    public void Wake(TailSubscription subscription) => Wake();

    /// <summary>Makes the loop re-read its readers (a reader joined or drained its buffer).</summary>
    private void Wake()
    {
        lock (_gate)
        {
            _version++;
        }

        if (_signal.CurrentCount == 0)
        {
            try
            {
                _signal.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already signalled.
            }
        }

        if (Volatile.Read(ref _phase) == 1)
        {
            SendWake();
        }
    }

    private void SendWake()
    {
        if (Interlocked.Exchange(ref _wakeInFlight, 1) == 1)
        {
            Volatile.Write(ref _wakeAgain, 1);
            return;
        }

        _ = SendWakeAsync();
    }

    private async Task SendWakeAsync()
    {
        try
        {
            // An entry on this tail's own wake stream ends its blocked XREAD whether it arrives before or after
            // Redis starts blocking (the loop reads the wake stream after the last wake it saw), so no wake is lost.
            var database = _shared.GetDatabase();
            await database.StreamAddAsync(_wakeKey, "w", 1, maxLength: 1, useApproximateMaxLength: false).ConfigureAwait(false);
            await database.KeyExpireAsync(_wakeKey, TimeSpan.FromHours(1), CommandFlags.FireAndForget).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException)
        {
            // The loop re-reads its readers when its own command fails and the connection comes back.
            StreamingLog.WakeFailed(_logger, ex);
        }
        finally
        {
            Volatile.Write(ref _wakeInFlight, 0);
        }

        if (Interlocked.Exchange(ref _wakeAgain, 0) == 1
            && Volatile.Read(ref _phase) == 1
            && Interlocked.Read(ref _snapshotVersion) < Interlocked.Read(ref _version))
        {
            SendWake();
        }
    }

    private async Task RunAsync()
    {
        var token = _stopping.Token;
        var outage = new TailOutage(_options, _logger, _time);
        var keys = new List<string>();
        var args = new List<object>();
        while (!token.IsCancellationRequested)
        {
            try
            {
                var database = await EnsureConnectedAsync().ConfigureAwait(false);
                Volatile.Write(ref _phase, 1);
                BuildCommand(keys, args);
                if (keys.Count == 0)
                {
                    Volatile.Write(ref _phase, 0);
                    await _signal.WaitAsync(token).ConfigureAwait(false);
                    continue;
                }

                RedisResult reply;
                try
                {
                    reply = await database.ExecuteAsync("XREAD", args).ConfigureAwait(false);
                }
                finally
                {
                    Volatile.Write(ref _phase, 0);
                }

                outage.Succeeded();
                Deliver(reply);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (!token.IsCancellationRequested)
            {
                var step = await outage.FailedAsync(ex, token).ConfigureAwait(false);
                if (step == TailOutageStep.Stopped)
                {
                    break;
                }

                if (step == TailOutageStep.GiveUp)
                {
                    // Past the deadline, or a failure that sending the read again cannot fix.
                    FailAll(ex, outage.Elapsed);
                }
            }
        }
    }

    private async Task<IDatabase> EnsureConnectedAsync()
    {
        if (_connection is null)
        {
            var configuration = _configuration();
            // The tail's own connection comes back within 250 ms of Redis (see RedisConnectionString.ApplyReconnectDefaults).
            RedisConnectionString.ApplyReconnectDefaults(configuration);
            configuration.ClientName = "agent-stream-tail";
            // A blocked XREAD must not time out client-side before Redis answers it.
            var needed = (int)(_options.TailBlockTimeout + TimeSpan.FromSeconds(5)).TotalMilliseconds;
            configuration.AsyncTimeout = Math.Max(configuration.AsyncTimeout, needed);
            configuration.SyncTimeout = Math.Max(configuration.SyncTimeout, needed);
            _connection = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        }

        return _connection.GetDatabase();
    }

    private void BuildCommand(List<string> keys, List<object> args)
    {
        keys.Clear();
        args.Clear();
        _commandFrom.Clear();
        args.Add("COUNT");
        args.Add(_options.ReadBatchSize);
        args.Add("BLOCK");
        args.Add(_blockMilliseconds);
        args.Add("STREAMS");
        var ids = new List<object>();
        lock (_gate)
        {
            Interlocked.Exchange(ref _snapshotVersion, _version);
            foreach (var (key, list) in _subscriptions)
            {
                var from = TailSubscription.ReadFrom(list, _options.ReaderBufferLimit);

                if (from is { } cursor)
                {
                    _commandFrom[key] = cursor;
                    keys.Add(key);
                    args.Add(key);
                    ids.Add(cursor.ToString());
                }
            }
        }

        if (keys.Count > 0)
        {
            args.Add(_wakeKey);
            ids.Add(_lastWakeId);
        }

        args.AddRange(ids);
    }

    private void Deliver(RedisResult reply)
    {
        foreach (var (key, entries) in StreamTails.Streams(reply))
        {
            if (key == _wakeKey)
            {
                if (entries.Length > 0)
                {
                    _lastWakeId = ((RedisResult[])entries[^1]!)[0].ToString();
                }

                continue;
            }

            // The reply holds the entries right after the position the command read this key from, without a gap,
            // so only a reader that had received everything up to that position may take them. A reader that
            // joined (or was paused) while the command was in flight, further back, takes none of them: the next
            // command reads from its position, which is the smallest again.
            if (!_commandFrom.TryGetValue(key, out var readFrom))
            {
                continue;
            }

            lock (_gate)
            {
                if (!_subscriptions.TryGetValue(key, out var list))
                {
                    continue;
                }

                TailSubscription.Offer(list, readFrom, entries.Select(StreamChunkParser.Parse), LoseEntry);
            }
        }
    }

    private void FailAll(Exception cause, TimeSpan elapsed)
    {
        List<TailSubscription> failed;
        lock (_gate)
        {
            failed = _subscriptions.Values.SelectMany(l => l).ToList();
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
        if (_connection is not null)
        {
            try
            {
                // Ends the blocked XREAD at once and removes the wake stream.
                var database = _shared.GetDatabase();
                await database.StreamAddAsync(_wakeKey, "w", 1, maxLength: 1).ConfigureAwait(false);
                await database.KeyDeleteAsync(_wakeKey).ConfigureAwait(false);
            }
            catch (RedisException)
            {
                // Closing the connection below ends the blocked command anyway.
            }
        }

        if (_loop is { } loop)
        {
            try
            {
                await loop.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The connection's disposal below ends the blocked command.
            }
        }

        if (_connection is { } owned)
        {
            await owned.DisposeAsync().ConfigureAwait(false);
        }

        lock (_gate)
        {
            StreamTails.Disposed(_subscriptions.Values.SelectMany(l => l));

            _subscriptions.Clear();
        }

        _stopping.Dispose();
    }
}

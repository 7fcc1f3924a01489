using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Tails;

/// <summary>
/// The shared tail on a single server, driven by the keys that changed: every append call announces the streams it
/// wrote to on one channel (<see cref="StreamKeys.Changes"/>), and this tail, subscribed on a connection of its own,
/// reads only the announced keys that have readers here, many in one non-blocking <c>XREAD COUNT n STREAMS k1 k2 … id1
/// id2 …</c>. Redis's cost is in proportion to the traffic, not to the number of live streams, as a blocking
/// <c>XREAD</c> over every live key would be.
/// </summary>
/// <remarks>
/// A key is read from the position of its furthest-behind reader, and is read again when an announcement arrives
/// during a read, or when the read returned a full page. Announcements cannot be lost silently: entries written
/// before the subscription took effect, or while its connection was down, are read when it is (re-)established, and a
/// sweep reads every key each <see cref="RedisAgentStreamingOptions.TailBlockTimeout"/> for streams written by other
/// writers that do not announce.
/// </remarks>
internal sealed class AnnouncedStreamTail : KeyedStreamTail<AnnouncedStreamTail.KeyState>
{
    /// <summary>Keys per <c>XREAD</c>: a larger set is read in several commands.</summary>
    internal const int MaxKeysPerRead = 1024;

    private readonly RedisChannel _channel;
    private readonly Queue<KeyState> _dirty = new();
    private volatile bool _subscribed;
    private bool _listening;
    private bool _reading;

    /// <summary>Creates the tail; <c>origin</c> is what this process's write pump puts in its announcements (see <see cref="KeyedStreamTail{TKey}.HandOver"/>).</summary>
    public AnnouncedStreamTail(Func<ConfigurationOptions> configuration, string changesChannel, string origin, RedisAgentStreamingOptions options, ILogger logger, TimeProvider time)
        : base(configuration, origin, options, logger, time)
    {
        _channel = RedisChannel.Literal(changesChannel);
    }

    /// <inheritdoc />
    public override bool IsListening(string key) => _subscribed;

    /// <inheritdoc />
    protected override KeyState CreateKey(string key) => new(key);

    /// <inheritdoc />
    protected override bool SubscribedLocked(KeyState state, bool added)
    {
        var listen = !_listening;
        _listening = true;
        MarkLocked(state);
        return listen;
    }

    /// <inheritdoc />
    protected override void Subscribed(KeyState state, bool listen)
    {
        if (listen)
        {
            _ = ListenAsync();
        }

        StartReading();
    }

    /// <inheritdoc />
    public override void Wake(TailSubscription subscription)
    {
        lock (Gate)
        {
            if (Keys.TryGetValue(subscription.Key, out var state))
            {
                MarkLocked(state);
            }
        }

        StartReading();
    }

    private async Task ListenAsync()
    {
        try
        {
            var connection = await Connection.GetAsync(Stopping.Token).ConfigureAwait(false);
            // A queue, so the announcements are handled in the order they arrive (handlers of a plain subscription run
            // concurrently, and an announcement overtaken by the next sends its key to be read from Redis).
            var queue = await connection.GetSubscriber().SubscribeAsync(_channel).ConfigureAwait(false);
            queue.OnMessage(message => OnAnnounced(message.Message, channelKey: null));
            _subscribed = true;
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or OperationCanceledException)
        {
            // The sweep reads every key meanwhile and subscribes again.
            StreamingLog.TailConnectionLost(Logger, TimeSpan.Zero, ex);
            _subscribed = false;
            lock (Gate)
            {
                _listening = false;
            }

            return;
        }

        // Entries written before the subscription took effect were announced to no one.
        ReadAll();
    }

    /// <summary>Reads every key (after a (re)subscription, and on the sweep).</summary>
    protected override void ReadAll()
    {
        bool listen;
        lock (Gate)
        {
            foreach (var state in Keys.Values)
            {
                MarkLocked(state);
            }

            listen = !_listening && Keys.Count > 0;
            _listening |= listen;
        }

        if (listen)
        {
            _ = ListenAsync();
        }

        StartReading();
    }

    /// <inheritdoc />
    protected override void MarkLocked(KeyState state)
    {
        if (!state.Dirty)
        {
            state.Dirty = true;
            _dirty.Enqueue(state);
        }
    }

    /// <inheritdoc />
    protected override void ReadMarked() => StartReading();

    private void StartReading()
    {
        lock (Gate)
        {
            if (_reading || _dirty.Count == 0 || Stopping.IsCancellationRequested)
            {
                return;
            }

            _reading = true;
        }

        _ = Task.Run(ReadLoopAsync);
    }

    private async Task ReadLoopAsync()
    {
        var states = new List<KeyState>();
        var froms = new List<StreamCursor>();
        var args = new List<object>();
        var outage = new TailOutage(Options, Logger, Time);
        while (!Stopping.IsCancellationRequested)
        {
            if (!TakeDirty(states, froms, args))
            {
                return;
            }

            RedisResult reply;
            try
            {
                var connection = await Connection.GetAsync(Stopping.Token).ConfigureAwait(false);
                CountKeyReads(states.Count);
                reply = await connection.GetDatabase().ExecuteAsync("XREAD", args).ConfigureAwait(false);
                outage.Succeeded();
            }
            catch (Exception ex) when (!Stopping.IsCancellationRequested && ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                lock (Gate)
                {
                    foreach (var state in states)
                    {
                        MarkLocked(state);
                    }
                }

                var step = await outage.FailedAsync(ex, Stopping.Token).ConfigureAwait(false);
                if (step == TailOutageStep.Stopped)
                {
                    break;
                }

                if (step == TailOutageStep.GiveUp)
                {
                    // Past the deadline, or a failure that sending the read again cannot fix.
                    GiveUp(null, ex, outage.Elapsed);
                }

                continue;
            }
            catch (Exception) when (Stopping.IsCancellationRequested)
            {
                break;
            }

            Deliver(reply, states, froms);
        }

        lock (Gate)
        {
            _reading = false;
        }
    }

    /// <summary>Takes the keys to read next and builds their <c>XREAD</c>; ends the loop when there are none.</summary>
    private bool TakeDirty(List<KeyState> states, List<StreamCursor> froms, List<object> args)
    {
        states.Clear();
        froms.Clear();
        args.Clear();
        lock (Gate)
        {
            while (states.Count < MaxKeysPerRead && _dirty.TryDequeue(out var state))
            {
                state.Dirty = false;
                if (!ReferenceEquals(Keys.GetValueOrDefault(state.Key), state))
                {
                    continue;
                }

                var from = TailSubscription.ReadFrom(state.Subscriptions, Options.ReaderBufferLimit);

                if (from is { } cursor)
                {
                    states.Add(state);
                    froms.Add(cursor);
                }
            }

            // Keys without a reader to read for (all complete or paused) were skipped; none left means the queue is empty.
            if (states.Count == 0)
            {
                _reading = false;
                return false;
            }
        }

        args.Add("COUNT");
        args.Add(Options.ReadBatchSize);
        args.Add("STREAMS");
        foreach (var state in states)
        {
            args.Add(state.Key);
        }

        foreach (var from in froms)
        {
            args.Add(from.ToString());
        }

        return true;
    }

    private void Deliver(RedisResult reply, List<KeyState> states, List<StreamCursor> froms)
    {
        var index = new Dictionary<string, int>(states.Count, StringComparer.Ordinal);
        for (var i = 0; i < states.Count; i++)
        {
            index[states[i].Key] = i;
        }

        foreach (var (key, entries) in StreamTails.Streams(reply))
        {
            if (!index.TryGetValue(key, out var i))
            {
                continue;
            }

            var chunks = new StreamChunk[entries.Length];
            for (var e = 0; e < entries.Length; e++)
            {
                chunks[e] = StreamChunkParser.Parse(entries[e]);
            }

            var state = states[i];
            lock (Gate)
            {
                // The reply holds the entries right after the position this key was read from, without a gap, so only
                // readers that had received everything up to there take them (TailSubscription.Offer).
                TailSubscription.Offer(state.Subscriptions, froms[i], chunks.AsSpan(), LoseEntry);
                if (entries.Length >= Options.ReadBatchSize)
                {
                    MarkLocked(state);
                }
            }
        }
    }

    /// <inheritdoc />
    protected override void DisposingLocked() => _dirty.Clear();

    internal sealed class KeyState(string key) : TailKey(key)
    {
        public bool Dirty { get; set; }
    }
}

using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Tails;

/// <summary>
/// The shared tail on Redis Cluster. A blocking <c>XREAD</c> may only name keys of one hash slot there, and each one
/// holds a connection, so a process's readers cannot share one blocked command. Instead writers announce every batch
/// on the run's sharded channel (<c>SPUBLISH {agent-stream:&lt;runId&gt;}:notify</c>, in the run's slot, so only the
/// node that owns the run carries it), and this tail is subscribed (<c>SSUBSCRIBE</c>) on one connection of its own per
/// node. An announcement carries its batch's entries when they are few and small (<see cref="Announcement"/>), and
/// they go straight to the readers; otherwise the tail reads the key once for all its readers with
/// <c>XRANGE key (from + COUNT n</c>. The writers of this process hand their entries over in memory
/// (<see cref="KeyedStreamTail{TKey}.HandOver"/>), so from this process's first batch of a key and until a
/// <see cref="RedisAgentStreamingOptions.TailBlockTimeout"/> after its last one, the tail does not subscribe to the
/// key's channel: Redis would only send its own announcements back (an echo Redis pushes and this process parses for
/// nothing). What another process writes to such a key meanwhile (a claim that fenced this process's writer out) is
/// read when this process's writer is refused, or by the sweep.
/// </summary>
/// <remarks>
/// A key's announcements are handled in the order they arrive (one message queue per key). A key's channel is
/// subscribed and unsubscribed by one loop at a time, and a key whose last reader left stays until its unsubscription
/// is done, so a reader who arrives meanwhile joins it and the same loop subscribes again: never an unsubscription and
/// a subscription of one channel at once, which StackExchange.Redis could settle as unsubscribed. A key is read from the
/// position of its furthest-behind reader, at most one read per key at a time; an announcement during a read makes it
/// read again. Announcements lost while the connection was down are made up for when it comes back, and by a sweep of
/// every key each <see cref="RedisAgentStreamingOptions.TailBlockTimeout"/>.
/// </remarks>
internal sealed class ClusterStreamTail : KeyedStreamTail<ClusterStreamTail.KeyState>
{
    private readonly IConnectionMultiplexer _shared;
    private readonly Func<string, string> _channelOf;
    private readonly List<KeyState> _marked = [];

    /// <summary>Keys whose subscription a hand-over ended (under the lock).</summary>
    private readonly List<KeyState> _toSwitch = [];

    public ClusterStreamTail(
        IConnectionMultiplexer shared,
        Func<ConfigurationOptions> configuration,
        Func<string, string> channelOf,
        string origin,
        RedisAgentStreamingOptions options,
        ILogger logger,
        TimeProvider time)
        : base(configuration, origin, options, logger, time)
    {
        _shared = shared;
        _channelOf = channelOf;
    }

    /// <inheritdoc />
    public override bool IsListening(string key)
    {
        lock (Gate)
        {
            return Keys.TryGetValue(key, out var state) && state.Queue is not null;
        }
    }

    /// <inheritdoc />
    protected override KeyState CreateKey(string key) => new(key, RedisChannel.Sharded(_channelOf(key)), new TailOutage(Options, Logger, Time));

    /// <inheritdoc />
    protected override bool SubscribedLocked(KeyState state, bool added)
    {
        // A new key listens until this process's write pump hands over a batch of it.
        if (added)
        {
            state.Listen = true;
        }

        // A new key, or one whose last reader's unsubscription is under way: the switch subscribes it (again).
        return added || state.Switching || state.Queue is null;
    }

    /// <inheritdoc />
    protected override bool RemoveWhenEmptiedLocked(KeyState state) => state.Queue is null && !state.Switching;

    /// <inheritdoc />
    protected override void Subscribed(KeyState state, bool listen)
    {
        if (listen)
        {
            Switch(state);
        }

        Read(state.Key);
    }

    /// <inheritdoc />
    protected override void Emptied(KeyState state) => Switch(state);

    /// <inheritdoc />
    protected override void WrittenHereLocked(KeyState state, long now, bool stored)
    {
        state.WrittenHere = stored ? now : 0;
        if (state.Listen == stored)
        {
            // Stored: its entries come in memory now, so Redis need not send them back. Refused: another writer may
            // own the key now, so its announcements are needed again.
            state.Listen = !stored;
            _toSwitch.Add(state);
        }
    }

    /// <inheritdoc />
    protected override void HandedOverHere()
    {
        KeyState[] switched;
        lock (Gate)
        {
            if (_toSwitch.Count == 0)
            {
                return;
            }

            switched = [.. _toSwitch];
            _toSwitch.Clear();
        }

        foreach (var state in switched)
        {
            Switch(state);
        }
    }

    /// <inheritdoc />
    public override void Wake(TailSubscription subscription) => Read(subscription.Key);

    /// <summary>
    /// Subscribes to the key's channel or unsubscribes from it until its subscription is what it should be: subscribed
    /// while the key has readers here and this process does not write it (<see cref="KeyState.Listen"/>). One loop at
    /// a time per key; a key left without readers is removed once unsubscribed.
    /// </summary>
    private void Switch(KeyState state)
    {
        lock (Gate)
        {
            if (state.Switching)
            {
                return;
            }

            state.Switching = true;
        }

        _ = SwitchAsync(state);
    }

    private async Task SwitchAsync(KeyState state)
    {
        while (true)
        {
            bool listen;
            ChannelMessageQueue? queue;
            lock (Gate)
            {
                var registered = ReferenceEquals(Keys.GetValueOrDefault(state.Key), state);
                listen = state.Listen && state.Subscriptions.Count > 0 && registered && !Stopping.IsCancellationRequested;
                queue = state.Queue;
                if (listen == queue is not null)
                {
                    if (registered && queue is null && state.Subscriptions.Count == 0)
                    {
                        // Its last reader left, and no one arrived while it was unsubscribed.
                        Keys.Remove(state.Key);
                    }

                    state.Switching = false;
                    return;
                }
            }

            try
            {
                if (listen)
                {
                    var connection = await Connection.GetAsync(Stopping.Token).ConfigureAwait(false);
                    // A queue, so the key's announcements are handled in order (handlers of a plain subscription run concurrently).
                    var subscribed = await connection.GetSubscriber().SubscribeAsync(state.Channel).ConfigureAwait(false);
                    subscribed.OnMessage(message => OnAnnounced(message.Message, state));
                    lock (Gate)
                    {
                        state.Queue = subscribed;
                    }

                    // Entries written before the subscription took effect were announced to no one.
                    Read(state.Key);
                }
                else
                {
                    // Announcements that arrive meanwhile are handled as before; only this key's queue is dropped.
                    await queue!.UnsubscribeAsync().ConfigureAwait(false);
                    lock (Gate)
                    {
                        state.Queue = null;
                    }
                }
            }
            catch (Exception ex) when (ex is RedisException or ObjectDisposedException or OperationCanceledException)
            {
                lock (Gate)
                {
                    state.Switching = false;
                }

                if (!Stopping.IsCancellationRequested)
                {
                    // The sweep reads the key meanwhile and tries again (a lost connection took its subscriptions with it).
                    StreamingLog.TailConnectionLost(Logger, TimeSpan.Zero, ex);
                }

                return;
            }
        }
    }

    /// <inheritdoc />
    protected override void ReadAll()
    {
        List<KeyState> all;
        lock (Gate)
        {
            // Keys this process stopped writing are subscribed again: others may write them now.
            var now = Time.GetUtcNow().ToUnixTimeMilliseconds();
            all = [.. Keys.Values];
            foreach (var state in all)
            {
                state.Listen = now - state.WrittenHere >= (long)Options.TailBlockTimeout.TotalMilliseconds;
            }
        }

        foreach (var state in all)
        {
            Switch(state);
            Read(state.Key);
        }
    }

    /// <inheritdoc />
    protected override void MarkLocked(KeyState state)
    {
        if (!state.Marked)
        {
            state.Marked = true;
            _marked.Add(state);
        }
    }

    /// <inheritdoc />
    protected override void ReadMarked()
    {
        KeyState[] marked;
        lock (Gate)
        {
            marked = [.. _marked];
            _marked.Clear();
            foreach (var state in marked)
            {
                state.Marked = false;
            }
        }

        foreach (var state in marked)
        {
            Read(state.Key);
        }
    }

    /// <inheritdoc />
    protected override void DisposingLocked()
    {
        _marked.Clear();
        _toSwitch.Clear();
    }

    /// <summary>Reads <paramref name="key"/> for its readers now, or once more after the read in flight.</summary>
    private void Read(string key)
    {
        KeyState? state;
        lock (Gate)
        {
            if (!Keys.TryGetValue(key, out state))
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
        while (!Stopping.IsCancellationRequested)
        {
            StreamCursor? from = null;
            lock (Gate)
            {
                state.Again = false;
                from = TailSubscription.ReadFrom(state.Subscriptions, Options.ReaderBufferLimit);

                if (from is null || !ReferenceEquals(Keys.GetValueOrDefault(state.Key), state))
                {
                    state.Reading = false;
                    return;
                }
            }

            StreamEntry[] entries;
            try
            {
                CountKeyReads(1);
                entries = await database.StreamRangeAsync(state.Key, "(" + from.Value.ToString(), "+", Options.ReadBatchSize).ConfigureAwait(false);
                state.Outage.Succeeded();
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                switch (await state.Outage.FailedAsync(ex, Stopping.Token).ConfigureAwait(false))
                {
                    case TailOutageStep.Stopped:
                        return;
                    case TailOutageStep.GiveUp:
                        // Past the deadline, or a failure that sending the read again cannot fix.
                        Fail(state, ex, state.Outage.Elapsed);
                        return;
                    default:
                        continue;
                }
            }

            lock (Gate)
            {
                TailSubscription.Offer(state.Subscriptions, from.Value, entries.Select(e => StreamChunkParser.Parse(e)), LoseEntry);
                if (entries.Length < Options.ReadBatchSize && !state.Again)
                {
                    state.Reading = false;
                    return;
                }
            }
        }

        lock (Gate)
        {
            state.Reading = false;
        }
    }

    private void Fail(KeyState state, Exception cause, TimeSpan elapsed)
    {
        lock (Gate)
        {
            state.Reading = false;
        }

        GiveUp([state], cause, elapsed);
    }

    internal sealed class KeyState(string key, RedisChannel channel, TailOutage outage) : TailKey(key)
    {
        public RedisChannel Channel { get; } = channel;

        public bool Reading { get; set; }

        public bool Again { get; set; }

        /// <summary>Whether the key's channel should be subscribed: it has readers here and this process does not write it (under the lock).</summary>
        public bool Listen { get; set; }

        /// <summary>The key's subscription once it took effect (under the lock).</summary>
        public ChannelMessageQueue? Queue { get; set; }

        /// <summary>When this process's write pump last stored a batch of the key (Unix milliseconds), or 0 (under the lock).</summary>
        public long WrittenHere { get; set; }

        /// <summary>Whether <see cref="Switch"/> is under way for the key (under the lock).</summary>
        public bool Switching { get; set; }

        /// <summary>Whether the key waits in the tail's list of keys to read (under the lock).</summary>
        public bool Marked { get; set; }

        /// <summary>The outage of this key's reads (the key's read loop alone uses it).</summary>
        public TailOutage Outage { get; } = outage;
    }
}

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
/// (<see cref="KeyedStreamTail{TKey}.HandOver"/>) and their echo is skipped.
/// </summary>
/// <remarks>
/// A key's announcements are handled in the order they arrive (one message queue per key). A key is read from the
/// position of its furthest-behind reader, at most one read per key at a time; an announcement during a read makes it
/// read again. Announcements lost while the connection was down are made up for when it comes back, and by a sweep of
/// every key each <see cref="RedisAgentStreamingOptions.TailBlockTimeout"/>.
/// </remarks>
internal sealed class ClusterStreamTail : KeyedStreamTail<ClusterStreamTail.KeyState>
{
    private readonly IConnectionMultiplexer _shared;
    private readonly Func<string, string> _channelOf;
    private readonly List<KeyState> _marked = [];

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
            return Keys.TryGetValue(key, out var state) && state.Listening;
        }
    }

    /// <inheritdoc />
    protected override KeyState CreateKey(string key) => new(key, RedisChannel.Sharded(_channelOf(key)), new TailOutage(Options, Logger, Time));

    /// <inheritdoc />
    protected override bool SubscribedLocked(KeyState state, bool added) => added;

    /// <inheritdoc />
    protected override void Subscribed(KeyState state, bool listen)
    {
        if (listen)
        {
            _ = ListenAsync(state);
        }

        Read(state.Key);
    }

    /// <inheritdoc />
    protected override void Emptied(KeyState state)
    {
        if (Connection.Current is { } connection)
        {
            _ = UnlistenAsync(connection, state);
        }
    }

    /// <inheritdoc />
    public override void Wake(TailSubscription subscription) => Read(subscription.Key);

    private async Task ListenAsync(KeyState state)
    {
        try
        {
            var connection = await Connection.GetAsync(Stopping.Token).ConfigureAwait(false);
            // A queue, so the key's announcements are handled in order (handlers of a plain subscription run concurrently).
            var queue = await connection.GetSubscriber().SubscribeAsync(state.Channel).ConfigureAwait(false);
            queue.OnMessage(message => OnAnnounced(message.Message, state));
            lock (Gate)
            {
                state.Listening = true;
            }

            // Entries written before the subscription took effect were announced to no one.
            Read(state.Key);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or OperationCanceledException)
        {
            // The sweep reads the key meanwhile and retries the subscription.
            StreamingLog.TailConnectionLost(Logger, TimeSpan.Zero, ex);
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

    /// <inheritdoc />
    protected override void ReadAll()
    {
        List<KeyState> all;
        lock (Gate)
        {
            all = [.. Keys.Values];
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
    protected override void DisposingLocked() => _marked.Clear();

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

        public bool Listening { get; set; }

        /// <summary>Whether the key waits in the tail's list of keys to read (under the lock).</summary>
        public bool Marked { get; set; }

        /// <summary>The outage of this key's reads (the key's read loop alone uses it).</summary>
        public TailOutage Outage { get; } = outage;
    }
}

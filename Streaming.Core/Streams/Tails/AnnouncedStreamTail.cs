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
    private readonly byte[] _origin;
    private long _handedOver;
    private long _echoesSkipped;
    private readonly Queue<KeyState> _dirty = new();
    private StreamChunk[] _announced = new StreamChunk[16];
    private bool _listening;
    private bool _reading;

    /// <summary>Creates the tail; <c>origin</c> is what this process's write pump puts in its announcements (see <see cref="HandOver"/>).</summary>
    public AnnouncedStreamTail(Func<ConfigurationOptions> configuration, string changesChannel, string origin, RedisAgentStreamingOptions options, ILogger logger, TimeProvider time)
        : base(configuration, options, logger, time)
    {
        _channel = RedisChannel.Literal(changesChannel);
        _origin = System.Text.Encoding.ASCII.GetBytes(origin);
    }

    /// <summary>
    /// A flush of this process's write pump, handed over in memory once Redis answered it: the readers here get its
    /// entries as they are, without waiting for Redis to publish the announcement back, and without encoding or parsing
    /// them (Redis still publishes it for other processes, and this tail skips that echo). Every entry travels, however
    /// large; a batch Redis refused in part is read from Redis instead.
    /// </summary>
    /// <param name="flush">The batches, as the pump sent them.</param>
    /// <param name="now">The entries' timestamp (Unix milliseconds).</param>
    internal void HandOver(List<AppendBatch> flush, long now)
    {
        Interlocked.Increment(ref _handedOver);
        var timestamp = DateTimeOffset.FromUnixTimeMilliseconds(now);
        var read = false;
        lock (Gate)
        {
            if (Keys.Count == 0)
            {
                return;
            }

            foreach (var batch in flush)
            {
                if (batch.Failure is not null || batch.Outcome is not (AppendOutcome.Stored or AppendOutcome.Refused) || !Keys.TryGetValue((string)batch.Stream!, out var state))
                {
                    continue;
                }

                var from = StreamCursor.Start;
                if (batch.Outcome != AppendOutcome.Stored || (batch.PreviousId.Length > 0 && !StreamCursor.TryParse(batch.PreviousId, out from)))
                {
                    MarkLocked(state);
                    read = true;
                    continue;
                }

                var chunks = Announced(batch.Count);
                var attempt = int.Parse(batch.Attempt, System.Globalization.CultureInfo.InvariantCulture);
                for (var e = 0; e < chunks.Length; e++)
                {
                    chunks[e] = batch.ChunkAt(e, attempt, timestamp);
                }

                OfferLocked(state, from, chunks, ref read);
            }
        }

        if (read)
        {
            StartReading();
        }
    }

    /// <summary>Announcements handed over in memory by this process's write pump.</summary>
    internal long HandedOver => Interlocked.Read(ref _handedOver);

    /// <summary>This process's announcements that came back from Redis and were skipped.</summary>
    internal long EchoesSkipped => Interlocked.Read(ref _echoesSkipped);

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
            await connection.GetSubscriber().SubscribeAsync(_channel, (_, message) => OnAnnounced(message)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or OperationCanceledException)
        {
            // The sweep reads every key meanwhile and subscribes again.
            StreamingLog.TailConnectionLost(Logger, TimeSpan.Zero, ex);
            lock (Gate)
            {
                _listening = false;
            }

            return;
        }

        // Entries written before the subscription took effect were announced to no one.
        ReadAll();
    }

    /// <summary>
    /// An announcement of one append call (<see cref="Announcement"/>): its entries go straight to the readers that had
    /// received everything up to the id each batch follows; a key with a reader further back, a paused reader or a batch
    /// announced without its entries is read from Redis instead.
    /// </summary>
    private void OnAnnounced(RedisValue message)
    {
        var bytes = (byte[]?)message;
        if (bytes is null || bytes.Length == 0)
        {
            return;
        }

        var announcement = new Announcement(bytes);
        var understood = announcement.TryReadHeader(out var origin);
        if (understood && origin.SequenceEqual(_origin))
        {
            // This process's own announcement, handed over in memory already (counted even when its readers are done).
            Interlocked.Increment(ref _echoesSkipped);
            return;
        }

        var read = false;
        lock (Gate)
        {
            if (Keys.Count == 0)
            {
                return;
            }

            if (!understood || !OfferLocked(ref announcement, ref read))
            {
                // Not understood (another version's writer): read every key.
                foreach (var state in Keys.Values)
                {
                    MarkLocked(state);
                }

                read = true;
            }
        }

        if (read)
        {
            StartReading();
        }
    }

    /// <returns><see langword="false"/> when the announcement is malformed.</returns>
    private bool OfferLocked(ref Announcement announcement, ref bool read)
    {
        var lookup = Keys.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> name = stackalloc char[512];
        while (announcement.TryReadRun(out var key, out var previous, out var count, out var attempt))
        {
            KeyState? state = null;
            if (key.Length <= name.Length)
            {
                var length = System.Text.Encoding.ASCII.GetChars(key, name);
                lookup.TryGetValue(name[..length], out state);
            }

            var from = StreamCursor.Start;
            if (state is null || count < 0 || (previous.Length > 0 && !StreamCursor.TryParse(System.Text.Encoding.ASCII.GetString(previous), out from)))
            {
                for (var e = 0; e < count; e++)
                {
                    if (!announcement.TrySkipEntry())
                    {
                        return false;
                    }
                }

                if (state is not null)
                {
                    MarkLocked(state);
                    read = true;
                }

                continue;
            }

            var chunks = Announced(count);
            for (var e = 0; e < count; e++)
            {
                if (!announcement.TryReadEntry(attempt, out chunks[e]))
                {
                    chunks.Clear();
                    return false;
                }
            }

            OfferLocked(state, from, chunks, ref read);
        }

        return true;
    }

    /// <summary>
    /// Entries are handed to the readers' channels by value, so one buffer serves every announcement (under the lock).
    /// </summary>
    private Span<StreamChunk> Announced(int count)
    {
        if (_announced.Length < count)
        {
            _announced = new StreamChunk[Math.Max(count, 2 * _announced.Length)];
        }

        return _announced.AsSpan(0, count);
    }

    /// <summary>
    /// Offers a batch's entries, which follow <paramref name="from"/> without a gap, to the readers of
    /// <paramref name="state"/> that had received everything up to there; a reader further back has the key read from
    /// Redis instead (under the lock). Clears <paramref name="chunks"/>.
    /// </summary>
    private void OfferLocked(KeyState state, StreamCursor from, Span<StreamChunk> chunks, ref bool read)
    {
        foreach (var subscription in state.Subscriptions)
        {
            if (!subscription.IsComplete && subscription.Buffered >= Options.ReaderBufferLimit)
            {
                subscription.Paused = true;
            }
        }

        TailSubscription.Offer(state.Subscriptions, from, chunks, LoseEntry);
        var newestId = chunks.Length > 0 ? chunks[^1].EntryId : null;
        chunks.Clear();
        if (newestId is not null && StreamCursor.TryParse(newestId, out var newest))
        {
            foreach (var subscription in state.Subscriptions)
            {
                if (!subscription.IsComplete && !subscription.Paused && subscription.Delivered < newest)
                {
                    // Further back than the batch: read it from its own position.
                    MarkLocked(state);
                    read = true;
                    break;
                }
            }
        }
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

    private void MarkLocked(KeyState state)
    {
        if (!state.Dirty)
        {
            state.Dirty = true;
            _dirty.Enqueue(state);
        }
    }

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

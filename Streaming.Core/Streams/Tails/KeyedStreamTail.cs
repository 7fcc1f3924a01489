using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Tails;

/// <summary>A live stream key of a <see cref="KeyedStreamTail{TKey}"/> and the readers of it in this process.</summary>
/// <param name="key">The stream key.</param>
internal class TailKey(string key)
{
    public string Key { get; } = key;

    /// <summary>The readers of the key (the tail's lock guards the list).</summary>
    public List<TailSubscription> Subscriptions { get; } = [];
}

/// <summary>
/// The tails driven by the writers' announcements, whatever they keep per key: the write pump hands them its flushes,
/// and the tests read their counters.
/// </summary>
internal interface IAnnouncedTail : IStreamTail
{
    /// <summary>Hands a flush of this process's write pump to the readers here, in memory.</summary>
    /// <param name="flush">The batches, as the pump sent them.</param>
    /// <param name="now">The entries' timestamp (Unix milliseconds).</param>
    void HandOver(List<AppendBatch> flush, long now);

    /// <summary>Flushes handed over in memory by this process's write pump.</summary>
    long HandedOver { get; }

    /// <summary>This process's announcements that came back from Redis and were skipped.</summary>
    long EchoesSkipped { get; }

    /// <summary>Keys read from Redis: announcements that carried their entries, and the process's own hand-overs, need none.</summary>
    long KeyReads { get; }

    /// <summary>Whether announcements about <paramref name="key"/> reach this tail now (its subscription took effect).</summary>
    bool IsListening(string key);
}

/// <summary>
/// The skeleton of the tails driven by the writers' announcements (<see cref="AnnouncedStreamTail"/> on a single
/// server, <see cref="ClusterStreamTail"/> on Redis Cluster): the readers of each live key, the tail's own connection
/// (<see cref="TailConnection"/>), the sweep that reads every key each <see cref="RedisAgentStreamingOptions.TailBlockTimeout"/>,
/// giving readers up, and disposal; the entries this process's write pump hands over in memory
/// (<see cref="HandOver"/>) and those announcements carry (<see cref="OnAnnounced"/>), which reach the readers without a
/// read. A tail adds how it listens for announcements and how it reads keys.
/// </summary>
/// <typeparam name="TKey">What the tail keeps per live key.</typeparam>
internal abstract class KeyedStreamTail<TKey> : IAnnouncedTail
    where TKey : TailKey
{
    private readonly byte[] _origin;
    private ITimer? _sweep;
    private int _count;
    private long _handedOver;
    private long _echoesSkipped;
    private long _keyReads;
    private StreamChunk[] _announced = new StreamChunk[16];

    /// <param name="configuration">The settings of the tail's own connection (a fresh copy per call).</param>
    /// <param name="origin">What this process's write pump puts in its announcements (see <see cref="HandOver"/>).</param>
    /// <param name="options">The options.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="time">The clock of the sweep and the back-off.</param>
    protected KeyedStreamTail(Func<ConfigurationOptions> configuration, string origin, RedisAgentStreamingOptions options, ILogger logger, TimeProvider time)
    {
        _origin = System.Text.Encoding.ASCII.GetBytes(origin);
        // Announcements sent while the subscription connection was down are lost: read every key again.
        Connection = new TailConnection(configuration, ReadAll);
        Options = options;
        Logger = logger;
        Time = time;
    }

    /// <inheritdoc />
    public int SubscriberCount => Volatile.Read(ref _count);

    /// <inheritdoc />
    public Func<StreamChunk, bool>? LoseEntry { get; set; }

    protected RedisAgentStreamingOptions Options { get; }

    protected ILogger Logger { get; }

    protected TimeProvider Time { get; }

    /// <summary>The tail's own connection (subscriptions; reads too on a single server).</summary>
    protected TailConnection Connection { get; }

    /// <summary>Guards <see cref="Keys"/>, the keys' subscription lists and the tails' own state.</summary>
    protected object Gate { get; } = new();

    /// <summary>The live keys of this process.</summary>
    protected Dictionary<string, TKey> Keys { get; } = new(StringComparer.Ordinal);

    /// <summary>Cancelled when the tail is disposed.</summary>
    protected CancellationTokenSource Stopping { get; } = new();

    /// <inheritdoc />
    public TailSubscription Subscribe(string key, StreamCursor after)
    {
        ObjectDisposedException.ThrowIf(Stopping.IsCancellationRequested, this);
        var subscription = new TailSubscription(this, key, after, Math.Max(1, Options.ReaderBufferLimit / 2));
        TKey? state;
        bool listen;
        lock (Gate)
        {
            var added = false;
            if (!Keys.TryGetValue(key, out state))
            {
                Keys[key] = state = CreateKey(key);
                added = true;
            }

            state.Subscriptions.Add(subscription);
            _count++;
            _sweep ??= Time.CreateTimer(static s => ((KeyedStreamTail<TKey>)s!).ReadAll(), this, Options.TailBlockTimeout, Options.TailBlockTimeout);
            listen = SubscribedLocked(state, added);
        }

        StreamingDiagnostics.LiveReadersCounter.Add(1);
        Subscribed(state, listen);
        return subscription;
    }

    /// <inheritdoc />
    public void Unsubscribe(TailSubscription subscription)
    {
        TKey? emptied = null;
        lock (Gate)
        {
            if (Keys.TryGetValue(subscription.Key, out var state) && state.Subscriptions.Remove(subscription))
            {
                _count--;
                StreamingDiagnostics.LiveReadersCounter.Add(-1);
                if (state.Subscriptions.Count == 0)
                {
                    if (RemoveWhenEmptiedLocked(state))
                    {
                        Keys.Remove(subscription.Key);
                    }

                    emptied = state;
                }
            }
        }

        if (emptied is not null)
        {
            Emptied(emptied);
        }
    }

    /// <inheritdoc />
    public abstract void Wake(TailSubscription subscription);

    /// <summary>What the tail keeps for a key that got its first reader.</summary>
    protected abstract TKey CreateKey(string key);

    /// <summary>A reader joined <paramref name="state"/> (under the lock).</summary>
    /// <param name="state">The key the reader joined.</param>
    /// <param name="added">Whether the key is new to the tail.</param>
    /// <returns>Whether <see cref="Subscribed"/> must start listening for announcements.</returns>
    protected abstract bool SubscribedLocked(TKey state, bool added);

    /// <summary>A reader joined <paramref name="state"/> (after the lock): listen when asked, and read the key.</summary>
    protected abstract void Subscribed(TKey state, bool listen);

    /// <summary>
    /// Whether a key whose last reader left goes at once (under the lock); else the tail keeps it, without readers, until
    /// it removes it itself, and a reader who arrives meanwhile joins it.
    /// </summary>
    protected virtual bool RemoveWhenEmptiedLocked(TKey state) => true;

    /// <summary>The last reader of a key left (after the lock).</summary>
    protected virtual void Emptied(TKey state)
    {
    }

    /// <summary>Reads every key: on the sweep, and when the subscription connection came back.</summary>
    protected abstract void ReadAll();

    /// <summary>Marks <paramref name="state"/> to be read from Redis (under the lock); <see cref="ReadMarked"/> starts the reads.</summary>
    protected abstract void MarkLocked(TKey state);

    /// <summary>Reads the keys marked by <see cref="MarkLocked"/> (after the lock).</summary>
    protected abstract void ReadMarked();

    /// <inheritdoc />
    public abstract bool IsListening(string key);

    /// <inheritdoc />
    public long HandedOver => Interlocked.Read(ref _handedOver);

    /// <inheritdoc />
    public long EchoesSkipped => Interlocked.Read(ref _echoesSkipped);

    /// <inheritdoc />
    public long KeyReads => Interlocked.Read(ref _keyReads);

    /// <summary>Counts keys about to be read from Redis (<see cref="KeyReads"/>).</summary>
    protected void CountKeyReads(int keys) => Interlocked.Add(ref _keyReads, keys);

    /// <summary>
    /// A flush of this process's write pump, handed over in memory once Redis answered it: the readers here get its
    /// entries as they are, without waiting for Redis to publish the announcement back, and without encoding or parsing
    /// them (Redis still publishes it for other processes, and this tail skips that echo). Every entry travels, however
    /// large; a batch Redis refused in part is read from Redis instead.
    /// </summary>
    /// <param name="flush">The batches, as the pump sent them.</param>
    /// <param name="now">The entries' timestamp (Unix milliseconds).</param>
    public void HandOver(List<AppendBatch> flush, long now)
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

                WrittenHereLocked(state, now, batch.Outcome == AppendOutcome.Stored);

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

        HandedOverHere();
        if (read)
        {
            ReadMarked();
        }
    }

    /// <summary>
    /// This process's write pump wrote to <paramref name="state"/>'s key, which has readers here (under the lock, for
    /// every such batch Redis answered).
    /// </summary>
    /// <param name="state">The key.</param>
    /// <param name="now">The flush's time (Unix milliseconds).</param>
    /// <param name="stored">Whether Redis stored the batch; else it refused some of it (a re-send, or a writer another claim fenced out).</param>
    protected virtual void WrittenHereLocked(TKey state, long now, bool stored)
    {
    }

    /// <summary>After a hand-over (after the lock): acts on what <see cref="WrittenHereLocked"/> noted.</summary>
    protected virtual void HandedOverHere()
    {
    }

    /// <summary>
    /// An announcement (<see cref="Announcement"/>): its entries go straight to the readers that had received everything
    /// up to the id each batch follows; a key with a reader further back, a paused reader or a batch announced without
    /// its entries is read from Redis instead. This process's own announcements are skipped (handed over already).
    /// </summary>
    /// <param name="message">The message.</param>
    /// <param name="channelKey">The key whose channel carried it (Redis Cluster), read from Redis when the message is not understood; <see langword="null"/>: every key is.</param>
    protected void OnAnnounced(RedisValue message, TKey? channelKey)
    {
        var bytes = (byte[]?)message;
        var announcement = new Announcement(bytes);
        ReadOnlySpan<byte> origin = default;
        var understood = bytes is { Length: > 0 } && announcement.TryReadHeader(out origin);
        if (understood && origin.SequenceEqual(_origin))
        {
            // This process's own announcement, handed over in memory already (counted even when its readers are done).
            Interlocked.Increment(ref _echoesSkipped);
            return;
        }

        if (bytes is not { Length: > 0 } && channelKey is null)
        {
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
                // Not understood (a claim's announcement on Redis Cluster, another version's writer): read the key it
                // was about, or every key.
                if (channelKey is not null)
                {
                    MarkLocked(channelKey);
                }
                else
                {
                    foreach (var state in Keys.Values)
                    {
                        MarkLocked(state);
                    }
                }

                read = true;
            }
        }

        if (read)
        {
            ReadMarked();
        }
    }

    /// <returns><see langword="false"/> when the announcement is malformed.</returns>
    private bool OfferLocked(ref Announcement announcement, ref bool read)
    {
        var lookup = Keys.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> name = stackalloc char[512];
        while (announcement.TryReadRun(out var key, out var previous, out var count, out var attempt))
        {
            TKey? state = null;
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
    private void OfferLocked(TKey state, StreamCursor from, Span<StreamChunk> chunks, ref bool read)
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

    /// <summary>Clears what the tail keeps besides <see cref="Keys"/> when it is disposed (under the lock).</summary>
    protected virtual void DisposingLocked()
    {
    }

    /// <summary>Fails the reads of the readers of <paramref name="states"/> (every key when <see langword="null"/>).</summary>
    protected void GiveUp(IEnumerable<TKey>? states, Exception cause, TimeSpan elapsed)
    {
        List<TailSubscription> failed;
        lock (Gate)
        {
            failed = (states ?? Keys.Values).SelectMany(k => k.Subscriptions).ToList();
        }

        StreamTails.GiveUp(failed, Logger, elapsed, cause);
    }

    /// <summary>Stops the sweep, fails the reads still open and closes the tail's connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Stopping.IsCancellationRequested)
        {
            return;
        }

        await Stopping.CancelAsync().ConfigureAwait(false);
        List<TailSubscription> open;
        lock (Gate)
        {
            _sweep?.Dispose();
            open = Keys.Values.SelectMany(k => k.Subscriptions).ToList();
            Keys.Clear();
            DisposingLocked();
        }

        StreamTails.Disposed(open);

        await Connection.DisposeAsync().ConfigureAwait(false);
    }
}

using System.Runtime.CompilerServices;
using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Resilience;
using AgentStreaming.Streaming.Streams.Tails;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Reading;

/// <summary>
/// Reads run streams for <see cref="RedisStreamResponseHandler"/>: catches up with <c>XRANGE key (cursor + COUNT n</c>
/// on the shared multiplexer, then takes live entries from the handler's shared tail, checks every entry's
/// <c>sequence</c> against the last one delivered (filling holes from Redis), and probes the stream when idle
/// (<c>HGET meta seq</c> + <c>XREVRANGE key + - COUNT 1</c>) to notice expiry and a terminal entry the tail missed.
/// </summary>
/// <param name="multiplexer">The shared Redis connection (not disposed here).</param>
/// <param name="keys">The key names.</param>
/// <param name="options">The options.</param>
/// <param name="tail">The handler's shared tail, made on first use.</param>
/// <param name="logger">The logger.</param>
/// <param name="time">The clock of the deadlines.</param>
internal sealed class RedisAgentStreamReader(
    IConnectionMultiplexer multiplexer,
    StreamKeys keys,
    RedisAgentStreamingOptions options,
    Func<IStreamTail> tail,
    ILogger logger,
    TimeProvider time) : IAgentStreamReader
{
    private const int FirstPageSize = 32;
    private readonly IConnectionMultiplexer _multiplexer = multiplexer;
    private readonly StreamKeys _keys = keys;
    private readonly RedisAgentStreamingOptions _options = options;
    private readonly Func<IStreamTail> _tail = tail;
    private readonly ILogger _logger = logger;
    private readonly TimeProvider _time = time;

    /// <inheritdoc />
    public Task<AgentStreamState> GetStateAsync(string runId, CancellationToken cancellationToken = default)
    {
        // Validate eagerly, before Redis is touched.
        RunIds.Validate(runId);
        return ProbeAsync(runId, _multiplexer.GetDatabase(), _keys.Stream(runId), _keys.Meta(runId), cancellationToken);
    }

    /// <inheritdoc />
    public IAsyncEnumerable<StreamChunk> ReadStreamAsync(string runId, string? cursor = null, CancellationToken cancellationToken = default)
    {
        // Validate eagerly: an async iterator would defer these errors to the first MoveNextAsync.
        RunIds.Validate(runId);
        var after = string.IsNullOrEmpty(cursor) ? StreamCursor.Start : StreamCursor.Parse(cursor, nameof(cursor));
        return ReadCoreAsync(runId, after, cancellationToken);
    }

    private async IAsyncEnumerable<StreamChunk> ReadCoreAsync(string runId, StreamCursor after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var key = _keys.Stream(runId);
        var metaKey = _keys.Meta(runId);
        var database = _multiplexer.GetDatabase();
        var delivery = new Delivery(after, _time, after == StreamCursor.Start ? null : _time.GetTimestamp());
        var notFoundDeadline = _time.GetUtcNow() + _options.NotFoundTimeout;

        using var idle = new IdleWait(_time, cancellationToken);

        // The first page is small so a resumed reader gets its first entry fast; later pages grow to ReadBatchSize.
        var page = Math.Min(FirstPageSize, _options.ReadBatchSize);
        while (true)
        {
            // Catch up with XRANGE until the reader is at the end of what is stored.
            while (true)
            {
                var count = page;
                var from = "(" + delivery.Last.ToString();
                var entries = await RetryAsync(runId, () => database.StreamRangeAsync(key, from, "+", count), cancellationToken).ConfigureAwait(false);
                page = Math.Min(page * 4, _options.ReadBatchSize);
                // The newest entry this reader knows of is the page's last: the lag of the others is measured against it.
                var newest = entries.Length > 0 ? StreamChunkParser.Parse(entries[^1]).Timestamp : default;
                for (var i = 0; i < entries.Length; i++)
                {
                    await AdmitAsync(runId, database, key, delivery, StreamChunkParser.Parse(entries[i]), cancellationToken).ConfigureAwait(false);
                    foreach (var chunk in delivery.Ready)
                    {
                        delivery.Delivered(chunk, behind: entries.Length - 1 - i, newest);
                        yield return chunk;
                        if (chunk.IsTerminal)
                        {
                            yield break;
                        }
                    }
                }

                if (entries.Length < count)
                {
                    // Caught up with what is stored: a resume that found nothing after its cursor has resumed too.
                    delivery.CaughtUp();
                    break;
                }
            }

            var probe = await ProbeAsync(runId, database, key, metaKey, cancellationToken).ConfigureAwait(false);
            if (probe.TerminalAt is { } terminalAt && terminalAt <= delivery.Last)
            {
                // The cursor was at or past the terminal entry: nothing more will come.
                yield break;
            }

            if (probe.Expired)
            {
                // Entries were written and the stream key is gone (expired or evicted) while its metadata remains.
                throw new AgentStreamNotFoundException(runId, expiredWhileReading: delivery.KnownToExist);
            }

            delivery.KnownToExist |= probe.Exists;
            if (!delivery.KnownToExist && _options.NotFoundTimeout == TimeSpan.Zero)
            {
                throw new AgentStreamNotFoundException(runId, expiredWhileReading: false);
            }

            // Live: the shared tail delivers entries after the last one delivered as Redis receives them.
            using var subscription = _tail().Subscribe(key, delivery.Last);
            var reader = subscription.Reader;
            var fallBehind = false;
            while (!fallBehind)
            {
                while (reader.TryRead(out var live))
                {
                    subscription.OnDrained();
                    await AdmitAsync(runId, database, key, delivery, live, cancellationToken).ConfigureAwait(false);
                    foreach (var chunk in delivery.Ready)
                    {
                        // Live: the newest entry is being written now; the entries behind are those the tail holds for this reader.
                        delivery.Delivered(chunk, behind: subscription.Buffered, newest: null);
                        yield return chunk;
                        if (chunk.IsTerminal)
                        {
                            yield break;
                        }
                    }
                }

                var wait = _options.IdleCheckInterval;
                if (!delivery.KnownToExist)
                {
                    var remaining = notFoundDeadline - _time.GetUtcNow();
                    wait = remaining < wait ? remaining : wait;
                }

                var more = wait > TimeSpan.Zero && await idle.WaitToReadAsync(reader, wait).ConfigureAwait(false);

                if (more || reader.TryPeek(out _))
                {
                    continue;
                }

                if (reader.Completion.IsCompleted)
                {
                    await reader.Completion.ConfigureAwait(false);
                    throw new ObjectDisposedException(nameof(RedisStreamResponseHandler), "The stream reader was disposed while a read was in progress.");
                }

                // Idle: make sure the stream still exists (it may have expired, or never have been written), and
                // that the tail is not behind (e.g. while it reconnected) a terminal entry already stored.
                probe = await ProbeAsync(runId, database, key, metaKey, cancellationToken).ConfigureAwait(false);
                if (probe.TerminalAt is { } terminal)
                {
                    if (terminal <= delivery.Last)
                    {
                        yield break;
                    }

                    fallBehind = true;
                    continue;
                }

                if (probe.Expired || (!probe.Exists && delivery.KnownToExist))
                {
                    throw new AgentStreamNotFoundException(runId, expiredWhileReading: delivery.KnownToExist);
                }

                if (!probe.Exists && _time.GetUtcNow() >= notFoundDeadline)
                {
                    throw new AgentStreamNotFoundException(runId, expiredWhileReading: false);
                }

                delivery.KnownToExist |= probe.Exists;
            }
        }
    }

    /// <summary>
    /// Checks an entry against the last one delivered and puts what may be delivered next in
    /// <see cref="Delivery.Ready"/>: nothing when it was delivered already; the entry when its <c>sequence</c> follows
    /// on; the missing entries first (read with <c>XRANGE (last (entry</c>) when there is a hole before it.
    /// </summary>
    /// <remarks>
    /// Only a <c>reset</c> may follow a hole (a new attempt trims the abandoned attempt's entries), or the first entry of
    /// another writer of the same attempt, which starts the next claim's range of sequences when Redis holds nothing in
    /// between. A hole Redis can no longer fill ends the read with <see cref="AgentStreamGapException"/>: a reader never
    /// accepts a gap silently.
    /// </remarks>
    private ValueTask AdmitAsync(string runId, IDatabase database, RedisKey key, Delivery delivery, StreamChunk chunk, CancellationToken cancellationToken)
    {
        delivery.Ready.Clear();
        if (chunk.Cursor <= delivery.Last)
        {
            return ValueTask.CompletedTask;
        }

        if (delivery.Sequence is { } previous && chunk.Sequence > previous + 1 && chunk.Kind != StreamEntryKind.Reset)
        {
            return new ValueTask(FillAsync(runId, database, key, delivery, chunk, previous + 1, cancellationToken));
        }

        delivery.Ready.Add(chunk);
        return ValueTask.CompletedTask;
    }

    private async Task FillAsync(string runId, IDatabase database, RedisKey key, Delivery delivery, StreamChunk chunk, long expected, CancellationToken cancellationToken)
    {
        var after = delivery.Last;
        var before = "(" + chunk.EntryId;
        var exhausted = false;
        while (expected < chunk.Sequence)
        {
            var from = "(" + after.ToString();
            var count = (int)Math.Min(chunk.Sequence - expected, _options.ReadBatchSize);
            var entries = await RetryAsync(runId, () => database.StreamRangeAsync(key, from, before, count), cancellationToken).ConfigureAwait(false);
            if (entries.Length == 0)
            {
                exhausted = true;
                break;
            }

            var broken = false;
            foreach (var entry in entries)
            {
                var missing = StreamChunkParser.Parse(entry);
                if (missing.Sequence != expected && !(missing.Kind == StreamEntryKind.Reset && missing.Sequence > expected))
                {
                    broken = true;
                    break;
                }

                delivery.Ready.Add(missing);
                expected = missing.Sequence + 1;
                after = missing.Cursor;
            }

            if (broken || entries.Length < count)
            {
                exhausted = !broken;
                break;
            }
        }

        // Another writer of the same attempt took over (its claim starts above a new floor, with no reset): its first
        // entry jumps to the next claim's range, and Redis holds nothing in between, so nothing is missing.
        var takenOver = exhausted && chunk.Sequence % Writing.EntryIds.Stride == 1
            && Writing.EntryIds.EpochOf(chunk.Sequence) > Writing.EntryIds.EpochOf(expected - 1);
        if (expected != chunk.Sequence && !takenOver)
        {
            StreamingLog.GapUnfillable(_logger, runId, expected, chunk.Sequence);
            throw new AgentStreamGapException(runId, delivery.Last.ToString(), expected, chunk.Sequence);
        }

        StreamingLog.GapFilled(_logger, runId, delivery.Ready.Count);
        StreamingDiagnostics.GapsFilledCounter.Add(1);
        delivery.Ready.Add(chunk);
    }

    /// <summary>
    /// Whether the stream exists, whether it expired (entries were written, the stream key is no more, its metadata is),
    /// and where its terminal entry is, if it has one (<c>HGET meta seq</c> then <c>XREVRANGE key + - COUNT 1</c>,
    /// pipelined in that order: a stream never comes back once gone, so the pair cannot mistake a new stream for a
    /// gone one).
    /// </summary>
    private Task<AgentStreamState> ProbeAsync(string runId, IDatabase database, RedisKey key, RedisKey metaKey, CancellationToken cancellationToken)
        => RetryAsync(runId, async () =>
        {
            var sequenceTask = database.HashGetAsync(metaKey, "seq");
            var lastTask = database.StreamRangeAsync(key, "-", "+", 1, Order.Descending);
            var sequence = await sequenceTask.ConfigureAwait(false);
            var last = await lastTask.ConfigureAwait(false);
            var written = sequence.HasValue && (long)sequence > 0;
            var lastChunk = last.Length == 1 ? StreamChunkParser.Parse(last[0]) : (StreamChunk?)null;
            StreamCursor? terminalAt = lastChunk is { IsTerminal: true } chunk ? chunk.Cursor : null;
            return new AgentStreamState(last.Length > 0 || (sequence.HasValue && !written), last.Length == 0 && written, terminalAt, lastChunk?.Cursor);
        }, cancellationToken);

    /// <summary>
    /// Runs a read, riding out transient Redis failures (<see cref="RedisFailurePolicy"/>) for up to
    /// <see cref="RedisAgentStreamingOptions.ReconnectTimeout"/>.
    /// </summary>
    /// <exception cref="AgentStreamUnavailableException">Redis kept failing transiently past the deadline.</exception>
    private async Task<T> RetryAsync<T>(string runId, Func<Task<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            return await RedisFailurePolicy.RetryAsync(
                operation,
                _options.ReconnectTimeout,
                _time,
                (ex, elapsed) => StreamingLog.ReadRetry(_logger, runId, elapsed, ex),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && RedisFailurePolicy.IsTransient(ex))
        {
            throw new AgentStreamUnavailableException(
                $"Redis could not be reached for {_options.ReconnectTimeout.TotalSeconds:0.#} s or more while reading the stream of run '{runId}'. Check that Redis is running and reachable, then resume from the last entry id you received.",
                ex);
        }
    }

    /// <summary>
    /// Waits for a reader's next entry with an idle deadline, with one timer per reader that is not re-armed per wait
    /// (readers wait once per entry, thousands of times a second in all): each wait moves the deadline forward, and the
    /// timer, when it fires before the deadline, sets itself for the rest; only a wait that reaches its deadline is
    /// cancelled. The wait's own state is pooled (each wait is awaited once, by the reader).
    /// </summary>
    private sealed class IdleWait : IDisposable
    {
        private readonly TimeProvider _time;
        private readonly CancellationToken _cancellationToken;
        private readonly object _gate = new();
        private CancellationTokenSource? _deadline;
        private CancellationTokenRegistration _link;
        private ITimer? _timer;
        private long _due;
        private long _armedFor = long.MaxValue;

        public IdleWait(TimeProvider time, CancellationToken cancellationToken)
        {
            _time = time;
            _cancellationToken = cancellationToken;
        }

        /// <summary>Whether an entry is available before <paramref name="timeout"/>; <see langword="false"/> when idle.</summary>
        [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
        public async ValueTask<bool> WaitToReadAsync(System.Threading.Channels.ChannelReader<StreamChunk> reader, TimeSpan timeout)
        {
            CancellationToken token;
            lock (_gate)
            {
                if (_deadline is null || _deadline.IsCancellationRequested)
                {
                    _link.Dispose();
                    _deadline?.Dispose();
                    _deadline = new CancellationTokenSource();
                    _link = _cancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), _deadline);
                }

                token = _deadline.Token;
                var now = _time.GetTimestamp();
                _due = now + (long)(timeout.TotalSeconds * _time.TimestampFrequency);
                if (_due < _armedFor)
                {
                    // The timer is not set, or set for later than this wait's deadline.
                    _armedFor = _due;
                    _timer ??= _time.CreateTimer(static state => ((IdleWait)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                    _timer.Change(timeout, Timeout.InfiniteTimeSpan);
                }
            }

            try
            {
                return await reader.WaitToReadAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!_cancellationToken.IsCancellationRequested)
            {
                return false;
            }
        }

        private void OnTimer()
        {
            CancellationTokenSource? idle;
            lock (_gate)
            {
                var now = _time.GetTimestamp();
                if (now < _due)
                {
                    // A later wait moved the deadline: wait for the rest.
                    _armedFor = _due;
                    _timer?.Change(_time.GetElapsedTime(now, _due), Timeout.InfiniteTimeSpan);
                    return;
                }

                _armedFor = long.MaxValue;
                idle = _deadline;
            }

            try
            {
                idle?.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The reader ended meanwhile.
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _timer?.Dispose();
                _link.Dispose();
                _deadline?.Dispose();
            }
        }
    }

    /// <summary>
    /// A reader's position: the last entry delivered and its sequence number, and what may be delivered next; it
    /// records the reader's metrics (entries delivered, how far behind the newest entry, the resume's latency).
    /// </summary>
    /// <param name="after">Where the read starts.</param>
    /// <param name="time">The clock.</param>
    /// <param name="resumeStarted">When a read with a cursor (a resume) started, as a <see cref="TimeProvider"/> timestamp.</param>
    private sealed class Delivery(StreamCursor after, TimeProvider time, long? resumeStarted)
    {
        private long? _resumeStarted = resumeStarted;

        public StreamCursor Last { get; private set; } = after;

        public long? Sequence { get; private set; }

        public bool KnownToExist { get; set; }

        public List<StreamChunk> Ready { get; } = [];

        /// <summary>Records an entry handed to the reader.</summary>
        /// <param name="chunk">The entry.</param>
        /// <param name="behind">Entries newer than it that the reader already holds (the rest of a catch-up page, or the live entries buffered for it).</param>
        /// <param name="newest">When the newest entry the reader knows of was written; <see langword="null"/> when live (now).</param>
        public void Delivered(StreamChunk chunk, int behind, DateTimeOffset? newest)
        {
            Last = chunk.Cursor;
            Sequence = chunk.Sequence;
            KnownToExist = true;
            StreamingDiagnostics.EntriesDeliveredCounter.Add(1);
            StreamingDiagnostics.ReaderBehindHistogram.Record(behind);
            var lag = (newest ?? time.GetUtcNow()) - chunk.Timestamp;
            StreamingDiagnostics.ReaderLagHistogram.Record(lag > TimeSpan.Zero ? lag.TotalSeconds : 0);
            CaughtUp();
        }

        /// <summary>Records the resume's latency once: at its first entry, or when it found nothing stored after its cursor.</summary>
        public void CaughtUp()
        {
            if (_resumeStarted is { } started)
            {
                _resumeStarted = null;
                StreamingDiagnostics.ResumeDurationHistogram.Record(time.GetElapsedTime(started).TotalSeconds);
            }
        }
    }
}

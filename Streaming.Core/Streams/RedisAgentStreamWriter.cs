using System.Diagnostics;
using System.Text;
using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Resilience;
using AgentStreaming.Streaming.Streams.Writing;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams;

/// <summary>
/// Appends one attempt of one run to its Redis Stream, in order, batched: entries appended while a batch is in
/// flight go out together in the next one, through the process-wide <see cref="StreamAppender"/> (on a single server
/// one script call carries the batches of every run waiting at that moment), so a chunk costs neither an awaited round
/// trip of its own nor a TTL command of its own.
/// </summary>
/// <remarks>
/// <para><see cref="AppendAsync"/> returns as soon as the entry is queued. A batch that fails because Redis is
/// transiently unavailable (<see cref="Resilience.RedisFailurePolicy.IsTransient"/>) is re-sent (same writer id and batch index, with its back-off) for up to the
/// retry window (<c>WriteRetryTimeout</c>) while later entries keep queueing: a short outage, such as a server restart,
/// is ridden out as the same attempt, and a batch Redis had stored before its reply was lost is acknowledged by the
/// script, not written twice. Any other failed batch, or an outage longer than the window, faults the writer: the
/// next <see cref="AppendAsync"/>, <see cref="FlushAsync"/> or <see cref="CompleteAsync"/> throws
/// <see cref="AgentStreamWriteException"/>, so failures reach the producer and are never swallowed.</para>
/// <para>Sequence numbers are assigned by Redis inside the script from the run's metadata hash, so they stay
/// strictly increasing across attempts and writer crashes. A lower attempt than the newest one that wrote is
/// refused (<see cref="AgentStreamWriteFailure.Fenced"/>), as is any write after the terminal entry, and any write
/// after the stream expired while its metadata remains (<see cref="AgentStreamWriteFailure.Expired"/>): a late
/// attempt never restarts the sequence at 0 next to readers that hold cursors.</para>
/// <para>Not thread-safe for concurrent appends from several threads: one producer per attempt.</para>
/// </remarks>
public sealed class RedisAgentStreamWriter
{
    private readonly StreamAppender _appender;
    private readonly RedisKey[] _keys;
    private readonly string _runId;
    private readonly int _attempt;
    private readonly StreamEntryEncoder _encoder;
    private readonly int _maxBatchSize;
    private readonly int _maxPending;
    private readonly TimeSpan _retryTimeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private List<AgentStreamEntry> _queue = [];
    private Task _pump = Task.CompletedTask;
    private bool _pumping;
    private bool _terminalQueued;
    private AgentStreamWriteException? _fault;
    private string? _lastEntryId;
    private long _entriesEncoded;
    private long _bytesEncoded;
    private long _resends;

    internal RedisAgentStreamWriter(
        StreamAppender appender,
        StreamKeys keys,
        string runId,
        int attempt,
        string? traceParent,
        TimeSpan ttl,
        TimeSpan metaExtra,
        string? notifyChannel,
        int maxBatchSize,
        int maxPending,
        TimeSpan retryTimeout,
        TimeProvider time,
        ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        _appender = appender;
        _runId = runId;
        _keys = [keys.Stream(runId), keys.Meta(runId)];
        _attempt = attempt;
        _encoder = new StreamEntryEncoder(attempt, traceParent, ttl, metaExtra, notifyChannel);
        _maxBatchSize = maxBatchSize;
        _maxPending = maxPending;
        _retryTimeout = retryTimeout;
        _time = time;
        _logger = logger;
    }

    /// <summary>The run this writer appends to.</summary>
    public string RunId => _runId;

    /// <summary>The 1-based attempt this writer writes as.</summary>
    public int Attempt => _attempt;

    /// <summary>The id of the last entry Redis confirmed, if any.</summary>
    public string? LastEntryId => Volatile.Read(ref _lastEntryId);

    /// <summary>Whether a batch failed; every further call throws <see cref="AgentStreamWriteException"/>.</summary>
    public bool IsFaulted
    {
        get
        {
            lock (_gate)
            {
                return _fault is not null;
            }
        }
    }

    /// <summary>Whether the terminal entry has been queued (no further appends are accepted).</summary>
    public bool IsCompleted
    {
        get
        {
            lock (_gate)
            {
                return _terminalQueued;
            }
        }
    }

    /// <summary>
    /// Claims the run's stream for this attempt before any entry is produced: records the attempt (fencing out
    /// older ones) and, when an earlier attempt already wrote entries, appends the <c>reset</c> entry.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait (not the write once sent).</param>
    /// <returns>A task that completes when Redis confirmed the claim.</returns>
    /// <exception cref="AgentStreamWriteException">Redis failed, a newer attempt holds the stream, or the run already ended.</exception>
    public async Task BeginAsync(CancellationToken cancellationToken = default)
    {
        Task pump;
        lock (_gate)
        {
            ThrowIfFaulted();
            if (!_pumping)
            {
                _pumping = true;
                _pump = PumpAsync();
            }

            pump = _pump;
        }

        await WaitForPumpAsync(pump, cancellationToken).ConfigureAwait(false);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Queues an entry. Returns at once unless too many entries are unsent, then waits for Redis.</summary>
    /// <param name="entry">The entry; a terminal entry ends the stream (prefer <see cref="CompleteAsync"/>).</param>
    /// <param name="cancellationToken">Cancels a wait for buffer space.</param>
    /// <returns>A task that completes when the entry is queued.</returns>
    /// <exception cref="AgentStreamWriteException">An earlier batch failed.</exception>
    /// <exception cref="InvalidOperationException">The terminal entry was already queued.</exception>
    public ValueTask AppendAsync(AgentStreamEntry entry, CancellationToken cancellationToken = default)
    {
        Task pump;
        lock (_gate)
        {
            ThrowIfFaulted();
            if (_terminalQueued)
            {
                throw new InvalidOperationException($"The stream of run '{_runId}' already has its terminal entry; nothing more can be appended.");
            }

            _queue.Add(entry);
            _terminalQueued = entry.IsTerminal;
            if (!_pumping)
            {
                _pumping = true;
                _pump = PumpAsync();
            }

            if (_queue.Count < _maxPending)
            {
                return ValueTask.CompletedTask;
            }

            pump = _pump;
        }

        return new ValueTask(WaitForPumpAsync(pump, cancellationToken));
    }

    /// <summary>Waits until every queued entry is in Redis.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when all entries are written.</returns>
    /// <exception cref="AgentStreamWriteException">A batch failed.</exception>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task pump;
            lock (_gate)
            {
                ThrowIfFaulted();
                if (!_pumping)
                {
                    return;
                }

                pump = _pump;
            }

            await WaitForPumpAsync(pump, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Appends the terminal entry and waits until everything is in Redis.</summary>
    /// <param name="terminal">A <c>done</c>, <c>error</c> or <c>cancelled</c> entry.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when the stream is complete in Redis.</returns>
    /// <exception cref="ArgumentException"><paramref name="terminal"/> is not terminal.</exception>
    /// <exception cref="AgentStreamWriteException">Writing failed.</exception>
    public async Task CompleteAsync(AgentStreamEntry terminal, CancellationToken cancellationToken = default)
    {
        if (!terminal.IsTerminal)
        {
            throw new ArgumentException("CompleteAsync takes a done, error or cancelled entry.", nameof(terminal));
        }

        await AppendAsync(terminal, cancellationToken).ConfigureAwait(false);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task WaitForPumpAsync(Task pump, CancellationToken cancellationToken)
    {
        // The pump never faults: a failed batch is recorded in _fault and surfaced here. The caller resumes on the
        // thread pool, never inline on the appender's completion of a call (which completes many runs' batches).
        await pump.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        lock (_gate)
        {
            ThrowIfFaulted();
        }
    }

    private void ThrowIfFaulted()
    {
        if (_fault is { } fault)
        {
            throw new AgentStreamWriteException(fault.RunId, fault.Failure, fault.Message, fault);
        }
    }

    private async Task PumpAsync()
    {
        // Runs synchronously up to the first send (building the batch and handing it to the multiplexer, which
        // never blocks on the network), then continues on Redis's answer: no thread-pool hop per chunk.
        var claim = true; // the first pass writes even without entries: BeginAsync's claim
        PendingBatch? inFlight = null;
        while (true)
        {
            List<AgentStreamEntry>? entries = null;
            lock (_gate)
            {
                if (_queue.Count > 0 || claim)
                {
                    if (_queue.Count <= _maxBatchSize)
                    {
                        entries = _queue;
                        _queue = [];
                    }
                    else
                    {
                        entries = _queue.GetRange(0, _maxBatchSize);
                        _queue.RemoveRange(0, _maxBatchSize);
                    }
                }
                else if (inFlight is null)
                {
                    _pumping = false;
                    return;
                }
            }

            claim = false;
            var next = entries is null ? null : Build(entries);
            if (next is not null)
            {
                next.Write = SendAsync(next, retry: false);
            }

            if (inFlight is not null)
            {
                // Two batches at most are in flight, so Redis runs one while the next is prepared. The script refuses a
                // batch whose predecessor did not apply, so a failed batch can never leave a gap before a later one.
                switch (await SettleAsync(inFlight, next).ConfigureAwait(false))
                {
                    case Settled.Faulted:
                        return;
                    case Settled.BothStored:
                        next = null;
                        break;
                }
            }

            inFlight = next;
        }
    }

    /// <summary>
    /// Waits for <paramref name="first"/>; on a transient failure re-sends it and <paramref name="second"/> (sent after
    /// it) in order. Awaited once per batch by the pump, so its state is pooled.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Settled> SettleAsync(PendingBatch first, PendingBatch? second)
    {
        Exception error;
        try
        {
            await first.Write.ConfigureAwait(false);
            return Settled.Stored;
        }
        catch (Exception ex)
        {
            error = ex;
        }

        if (_retryTimeout <= TimeSpan.Zero || !RedisFailurePolicy.IsTransient(error))
        {
            Fault(WriteErrors.FromFailure(_runId, _attempt, error), first.Count, error);
            if (second is not null)
            {
                await ObserveAsync(second.Write).ConfigureAwait(false);
            }

            return Settled.Faulted;
        }

        return await RetryAsync(first, second, error).ConfigureAwait(false) ? Settled.BothStored : Settled.Faulted;
    }

    private async Task<bool> RetryAsync(PendingBatch first, PendingBatch? second, Exception error)
    {
        var since = _time.GetTimestamp();
        StreamingLog.WriteRetrying(_logger, _runId, error.Message, _retryTimeout, error);

        // The second batch was sent before the first failed was known. The script stores a writer's batches only in
        // order, so if the second was stored the first was too (only its reply was lost); otherwise both are re-sent,
        // and the second may then meet no refusal: its predecessor is confirmed.
        if (second is not null && await SucceedsWithinAsync(second.Write, since).ConfigureAwait(false))
        {
            Stored(first, null);
        }
        else if (!await ResendAsync(first, since, error, pauseFirst: true).ConfigureAwait(false)
            || (second is not null && !await ResendAsync(second, since, error, pauseFirst: false).ConfigureAwait(false)))
        {
            return false;
        }

        var outage = _time.GetElapsedTime(since);
        StreamingDiagnostics.WriteOutagesCounter.Add(1);
        StreamingLog.WriteRecovered(_logger, _runId, outage);
        return true;
    }

    /// <summary>Re-sends a batch with backoff until Redis stores or acknowledges it, or the retry window since <paramref name="since"/> has passed.</summary>
    private async Task<bool> ResendAsync(PendingBatch batch, long since, Exception lastError, bool pauseFirst)
    {
        var backoff = TimeSpan.Zero;
        var pause = pauseFirst;
        while (true)
        {
            if (pause)
            {
                backoff = RedisFailurePolicy.NextDelay(backoff);
                var left = Remaining(since);
                if (left > TimeSpan.Zero)
                {
                    await Task.Delay(backoff < left ? backoff : left, _time).ConfigureAwait(false);
                }
            }

            pause = true;
            var remaining = Remaining(since);
            if (remaining <= TimeSpan.Zero)
            {
                Fault(WriteErrors.Outage(_runId, _attempt, _time.GetElapsedTime(since), _retryTimeout, lastError), batch.Count, lastError);
                return false;
            }

            StreamingDiagnostics.WriteRetriesCounter.Add(1);
            Interlocked.Increment(ref _resends);
            var write = SendAsync(batch, retry: true);
            try
            {
                await write.WaitAsync(remaining, _time).ConfigureAwait(false);
                return true;
            }
            catch (TimeoutException) when (!write.IsCompleted)
            {
                // The window closed while this send was still queued; it may yet apply, which a newer attempt's fence
                // or this writer's batch order makes harmless.
                Forget(write);
            }
            catch (Exception ex) when (RedisFailurePolicy.IsTransient(ex))
            {
                lastError = ex;
            }
            catch (RedisServerException ex) when (WriteErrors.IsOutOfOrder(ex))
            {
                // Every batch before this one is confirmed, so Redis lost what it had confirmed.
                Fault(WriteErrors.LostConfirmed(_runId, _attempt, ex), batch.Count, ex);
                return false;
            }
            catch (Exception ex)
            {
                Fault(WriteErrors.FromFailure(_runId, _attempt, ex), batch.Count, ex);
                return false;
            }
        }
    }

    private async Task<bool> SucceedsWithinAsync(Task write, long since)
    {
        try
        {
            await write.WaitAsync(Remaining(since), _time).ConfigureAwait(false);
            return true;
        }
        catch (Exception) when (!write.IsCompleted)
        {
            Forget(write);
            return false;
        }
        catch (Exception)
        {
            // Refused because the first was not stored, or failed the same way: it is re-sent after the first.
            return false;
        }
    }

    /// <summary>What is left of the retry window that opened at <paramref name="since"/>, as a timer accepts it.</summary>
    private TimeSpan Remaining(long since)
    {
        var left = _retryTimeout - _time.GetElapsedTime(since);
        return left <= TimeSpan.Zero ? TimeSpan.Zero : left < MaxWait ? left : MaxWait;
    }

    private void Fault(AgentStreamWriteException fault, int count, Exception cause)
    {
        StreamingLog.WriteFailed(_logger, _runId, count, fault.Failure, cause);
        lock (_gate)
        {
            _fault = fault;
            _queue.Clear();
            _pumping = false;
        }
    }

    private static void Forget(Task write)
        => _ = write.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private static async Task ObserveAsync(Task write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Refused or failed after an earlier batch failed; that first failure is what the producer sees.
        }
    }

    private PendingBatch Build(List<AgentStreamEntry> batch)
    {
        // Built by the pump alone, in order: the running totals need no synchronization.
        var values = _encoder.Encode(batch);
        foreach (var entry in batch)
        {
            _bytesEncoded += Utf8Length(entry);
        }

        _entriesEncoded += batch.Count;
        return new PendingBatch(batch, values, _encoder.BatchIndex, _entriesEncoded, _bytesEncoded);
    }

    private async Task SendAsync(PendingBatch batch, bool retry)
    {
        // A span for the claim, the terminal batch, re-sends and failures, not for every batch: a run has hundreds. The
        // others are summed up on the terminal batch's span (batches, entries, bytes, re-sends) and counted in the
        // metrics; their Redis calls carry the batches of many runs and belong to no run's trace (see StreamAppender).
        var activity = retry || batch.Index == 1 || batch.IsTerminal ? StartAppendActivity(batch, retry, startTime: default) : null;
        var started = Stopwatch.GetTimestamp();
        string last;
        try
        {
            // Re-sent unchanged (same writer id and batch index): the script acknowledges a batch it already stored.
            last = await _appender.AppendAsync(_keys[0], _keys[1], batch.Values, batch.Count).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // A failed batch is a span of its own, even one that was sent without.
            activity ??= StartAppendActivity(batch, retry, DateTime.UtcNow - Stopwatch.GetElapsedTime(started));
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity?.SetTag("error.type", ex.GetType().FullName);
            activity?.Dispose();
            throw;
        }

        StreamingDiagnostics.WriteDurationHistogram.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        Stored(batch, last);
        if (activity is not null)
        {
            if (batch.IsTerminal)
            {
                // The attempt's whole write, in the span that ends it: the script stores a writer's batches only in
                // order, so every batch up to this one is in Redis.
                activity.SetTag(StreamingDiagnostics.Tags.Batches, batch.Index);
                activity.SetTag(StreamingDiagnostics.Tags.Entries, batch.EntriesThrough);
                activity.SetTag(StreamingDiagnostics.Tags.Bytes, batch.BytesThrough);
                activity.SetTag(StreamingDiagnostics.Tags.Resends, Interlocked.Read(ref _resends));
            }

            activity.Dispose();
        }
    }

    private Activity? StartAppendActivity(PendingBatch batch, bool retry, DateTimeOffset startTime)
    {
        var activity = StreamingDiagnostics.ActivitySource.StartActivity(StreamingDiagnostics.AppendActivityName, ActivityKind.Client, parentContext: default, startTime: startTime);
        if (activity is not null)
        {
            activity.SetTag("db.system.name", "redis");
            activity.SetTag("db.operation.name", "EVALSHA");
            activity.SetTag("db.query.summary", "XADD agent-stream");
            activity.SetTag(StreamingDiagnostics.Tags.RunId, _runId);
            activity.SetTag(StreamingDiagnostics.Tags.Attempt, _attempt);
            activity.SetTag(StreamingDiagnostics.Tags.BatchIndex, batch.Index);
            activity.SetTag(StreamingDiagnostics.Tags.BatchSize, batch.Count);
            if (retry)
            {
                activity.SetTag(StreamingDiagnostics.Tags.BatchRetry, true);
            }
        }

        return activity;
    }

    private void Stored(PendingBatch batch, string? last)
    {
        if (!string.IsNullOrEmpty(last))
        {
            Volatile.Write(ref _lastEntryId, last);
        }

        // One measurement per run of entries of the same type (a batch is mostly text), not one per entry.
        var entries = batch.Entries;
        var from = 0;
        for (var i = 1; i <= entries.Count; i++)
        {
            if (i == entries.Count || entries[i].Kind != entries[from].Kind)
            {
                StreamingDiagnostics.EntriesWrittenCounter.Add(i - from, new KeyValuePair<string, object?>(StreamingDiagnostics.EntryTypeTag, entries[from].Kind.ToWireName()));
                from = i;
            }
        }
    }

    /// <summary>The payload an entry puts in the stream (its text, data and error), in UTF-8 bytes; counted, not encoded.</summary>
    private static int Utf8Length(in AgentStreamEntry entry)
        => Encoding.UTF8.GetByteCount(entry.Text ?? string.Empty)
            + (entry.Data is null ? 0 : Encoding.UTF8.GetByteCount(entry.Data))
            + (entry.Error is null ? 0 : Encoding.UTF8.GetByteCount(entry.Error));

    private static readonly TimeSpan MaxWait = TimeSpan.FromDays(30);

    private enum Settled
    {
        /// <summary>The first batch is stored; the second (if any) is still in flight.</summary>
        Stored,

        /// <summary>Both batches are stored (after a retry).</summary>
        BothStored,

        /// <summary>The writer faulted.</summary>
        Faulted,
    }

    /// <summary>A batch as sent, kept so a re-send is byte-for-byte the same script call.</summary>
    private sealed class PendingBatch(List<AgentStreamEntry> entries, RedisValue[] values, long index, long entriesThrough, long bytesThrough)
    {
        public List<AgentStreamEntry> Entries { get; } = entries;

        public RedisValue[] Values { get; } = values;

        /// <summary>The writer's 1-based batch index (1 is the claim).</summary>
        public long Index { get; } = index;

        /// <summary>The entries of the writer's batches up to and including this one.</summary>
        public long EntriesThrough { get; } = entriesThrough;

        /// <summary>The UTF-8 payload bytes of the writer's batches up to and including this one.</summary>
        public long BytesThrough { get; } = bytesThrough;

        public bool IsTerminal => Entries.Count > 0 && Entries[^1].IsTerminal;

        public int Count => Entries.Count;

        public Task Write { get; set; } = Task.CompletedTask;
    }
}

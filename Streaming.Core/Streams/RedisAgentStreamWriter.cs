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
/// flight go out together in the next one, through the process-wide <see cref="StreamAppender"/> (the batches of every
/// run waiting at that moment are pipelined together), so a chunk costs neither an awaited round trip of its own nor a
/// TTL command of its own, and Redis no more than one <c>XADD</c>.
/// </summary>
/// <remarks>
/// <para>The writer first claims the stream (one script call, <see cref="BeginAsync"/> or the first write): the claim
/// fences out every earlier claim, writes the <c>reset</c> entry when an earlier attempt left entries, and gives this
/// writer its range of sequences. The writer then numbers its entries itself, and an entry's id is
/// <c>&lt;sequence&gt;-0</c>: Redis refuses an id that is not above the stream's last, so a stale writer's entry and a
/// re-sent entry that Redis had stored already are refused by the <c>XADD</c> itself; the writer tells the two apart
/// (one read, only then) and acknowledges the re-send. One batch of a writer is in flight at a time, so what Redis
/// stored of a writer is always a prefix of what it sent: no gap.</para>
/// <para><see cref="AppendAsync"/> returns as soon as the entry is queued. A batch that fails because Redis is
/// transiently unavailable (<see cref="Resilience.RedisFailurePolicy.IsTransient"/>) is re-sent unchanged, with its
/// back-off, for up to the retry window (<c>WriteRetryTimeout</c>) while later entries keep queueing: a short outage,
/// such as a server restart, is ridden out as the same attempt. Any other failed batch, or an outage longer than the
/// window, faults the writer: the next <see cref="AppendAsync"/>, <see cref="FlushAsync"/> or <see cref="CompleteAsync"/>
/// throws <see cref="AgentStreamWriteException"/>, so failures reach the producer and are never swallowed.</para>
/// <para>Sequences stay strictly increasing across attempts and writer crashes (each claim starts above everything the
/// stream held). A lower attempt than the newest one that claimed is refused (<see cref="AgentStreamWriteFailure.Fenced"/>),
/// as is a write after the terminal entry, and any write after the stream expired while its metadata remains
/// (<see cref="AgentStreamWriteFailure.Expired"/>, <c>XADD … NOMKSTREAM</c>): a late attempt never restarts the
/// sequence next to readers that hold cursors.</para>
/// <para>Not thread-safe for concurrent appends from several threads: one producer per attempt.</para>
/// </remarks>
public sealed class RedisAgentStreamWriter
{
    private readonly StreamAppender _appender;
    private readonly RedisReplicaAcks? _replicas;
    private readonly IDatabase _database;
    private readonly RedisKey[] _keys;
    private readonly RedisValue[] _claimArguments;
    private readonly RedisChannel? _notify;
    private readonly string _runId;
    private readonly int _attempt;
    private readonly StreamEntryEncoder _encoder;
    private readonly AppendBatch.Refresh _refresh;
    private readonly int _maxBatchSize;
    private readonly int _maxPending;
    private readonly TimeSpan _retryTimeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private List<AgentStreamEntry> _queue = [];
    private TaskCompletionSource? _idle;
    private bool _pumping;
    private bool _terminalQueued;
    private AgentStreamWriteException? _fault;
    private string? _lastEntryId;

    // The claim and the write position: touched by the pump alone.
    private bool _claimed;
    private long _base;
    private long _next;
    private string _previousId = string.Empty;
    private List<AgentStreamEntry>? _spare;
    private readonly AppendBatch _append;
    private readonly PendingBatch _batch;
    private Activity? _activity;
    private long _started;
    private ActivityContext _parentContext;
    private bool _written;
    private long _refreshedAt;
    private long _batchIndex;
    private long _entriesEncoded;
    private long _bytesEncoded;
    private long _resends;

    internal RedisAgentStreamWriter(
        StreamAppender appender,
        IDatabase database,
        StreamKeys keys,
        string runId,
        int attempt,
        string? traceParent,
        TimeSpan ttl,
        TimeSpan metaExtra,
        string? changesChannel,
        string? notifyChannel,
        int maxBatchSize,
        int maxPending,
        TimeSpan retryTimeout,
        TimeProvider time,
        ILogger logger,
        RedisReplicaAcks? replicas = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        _replicas = replicas;
        _appender = appender;
        _database = database;
        _runId = runId;
        _keys = [keys.Stream(runId), keys.Meta(runId)];
        _attempt = attempt;
        _encoder = new StreamEntryEncoder(attempt, traceParent);
        _refresh = new AppendBatch.Refresh(ttl, ttl + metaExtra);
        _notify = notifyChannel is null ? (RedisChannel?)null : RedisChannel.Sharded(notifyChannel);
        _append = new AppendBatch(_keys[0], _keys[1], _notify, _encoder.Attempt, OnAnswered);
        _batch = new PendingBatch(_append);
        _claimArguments =
        [
            attempt,
            Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)),
            (long)ttl.TotalMilliseconds,
            (long)(ttl + metaExtra).TotalMilliseconds,
            changesChannel ?? string.Empty,
            notifyChannel ?? string.Empty,
            EntryIds.Stride,
        ];
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
    /// older ones and any earlier writer of this one) and, when an earlier attempt already wrote entries, appends the
    /// <c>reset</c> entry. One script call; the entries after it are plain <c>XADD</c>s.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait (not the write once sent).</param>
    /// <returns>A task that completes when Redis confirmed the claim.</returns>
    /// <exception cref="AgentStreamWriteException">Redis failed, a newer attempt holds the stream, the run already ended, or its stream expired.</exception>
    public async Task BeginAsync(CancellationToken cancellationToken = default)
    {
        Task pump;
        lock (_gate)
        {
            ThrowIfFaulted();
            StartPumpingLocked();
            pump = PumpTaskLocked();
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
            StartPumpingLocked();
            if (_queue.Count < _maxPending)
            {
                return ValueTask.CompletedTask;
            }

            pump = PumpTaskLocked();
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

                pump = PumpTaskLocked();
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

    /// <summary>Starts the pump if it is not running (under the lock); it runs until the queue is empty.</summary>
    private void StartPumpingLocked()
    {
        if (!_pumping)
        {
            _pumping = true;

            // The pump's spans (claim, terminal batch, re-sends, failures) belong to the trace of the call that started it.
            _parentContext = Activity.Current?.Context ?? default;
            Pump();
        }
    }

    /// <summary>Completes when the pump stops: the queue is empty or the writer failed (under the lock).</summary>
    private Task PumpTaskLocked()
        => !_pumping ? Task.CompletedTask : (_idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    private void StopPumpingLocked()
    {
        _pumping = false;
        _idle?.TrySetResult();
        _idle = null;
    }

    /// <summary>
    /// Sends the next batch, or stops the pump when nothing is queued. Runs synchronously (building the batch and
    /// handing it to the pipeline, which never blocks on the network); Redis's answer continues it in
    /// <see cref="OnAnswered"/>, inline: no thread-pool hop, task or state machine per chunk.
    /// </summary>
    private void Pump()
    {
        if (!_claimed)
        {
            _ = ClaimThenPumpAsync();
            return;
        }

        List<AgentStreamEntry> entries;
        lock (_gate)
        {
            if (_queue.Count == 0)
            {
                StopPumpingLocked();
                return;
            }

            if (_queue.Count <= _maxBatchSize)
            {
                // The lists swap: the one just written is the next queue, so a chunk costs no list of its own.
                entries = _queue;
                _queue = _spare ?? [];
                _spare = null;
            }
            else
            {
                entries = _queue.GetRange(0, _maxBatchSize);
                _queue.RemoveRange(0, _maxBatchSize);
            }
        }

        if (_next + entries.Count - _base >= EntryIds.Stride)
        {
            var fault = WriteErrors.TooManyEntries(_runId, _attempt);
            Fault(fault, entries.Count, fault);
            return;
        }

        var batch = Build(entries);
        var ambient = Activity.Current;
        _activity = StartWriteActivity(batch);

        // The span is not ambient here: the pump may be running inside the appender's flush, whose commands have no parent.
        Activity.Current = ambient;
        _started = Stopwatch.GetTimestamp();
        _appender.Append(_append);
    }

    private async Task ClaimThenPumpAsync()
    {
        if (await ClaimAsync().ConfigureAwait(false))
        {
            Pump();
        }
    }

    /// <summary>Redis answered the batch in flight (called inline by the appender): record it and send the next, or sort out a failure or a refusal.</summary>
    private void OnAnswered()
    {
        var activity = _activity;
        _activity = null;
        if (_append.Failure is null && _append.Outcome == AppendOutcome.Stored)
        {
            Written(_batch, activity, _started);
            Pump();
            return;
        }

        _ = ResolveThenPumpAsync(_batch, activity, _started, _append.Failure, _append.Outcome);
    }

    private async Task ResolveThenPumpAsync(PendingBatch batch, Activity? activity, long started, Exception? error, AppendOutcome outcome)
    {
        if (await ResolveAsync(batch, activity, started, error, outcome).ConfigureAwait(false))
        {
            Written(batch, activity, started);
            Pump();
        }
    }

    /// <summary>The claim (<see cref="RedisStreamScripts.Claim"/>), re-sent on transient failures within the retry window.</summary>
    private async Task<bool> ClaimAsync()
    {
        _batchIndex = 1;
        using var activity = StartAppendActivity(1, 0, retry: false, startTime: default, operation: "EVALSHA");

        // The claim's span belongs to the run's trace; its Redis command does not (as the pump's, see StreamAppender).
        Activity.Current = null;
        var (ok, reply) = await SendAsync(
            ClaimOnceAsync,
            0,
            activity).ConfigureAwait(false);
        if (!ok)
        {
            return false;
        }

        var parts = (RedisResult[])reply!;
        _base = long.Parse((string)parts[0]!, System.Globalization.CultureInfo.InvariantCulture);
        _next = _base + 1;
        _previousId = (string?)parts[1] ?? string.Empty;
        _refreshedAt = _time.GetTimestamp();
        _claimed = true;
        return true;
    }

    /// <summary>
    /// One send of the claim; with replica acknowledgements on, it counts only once the replicas have it (a claim lost
    /// in a failover would lose the <c>reset</c> and the fence), and a failed wait sends it again (the same writer's
    /// claim answers the same).
    /// </summary>
    private async Task<RedisResult> ClaimOnceAsync(bool resend)
    {
        var reply = await _database.ScriptEvaluateAsync(RedisStreamScripts.Claim, _keys, _claimArguments).ConfigureAwait(false);
        if (_replicas is { Enabled: true } replicas)
        {
            await replicas.WaitAsync(_keys[0]).ConfigureAwait(false);
        }

        return reply;
    }

    /// <summary>
    /// A span for the terminal batch, re-sends and failures, not for every batch: a run has hundreds. The others are
    /// summed up on the terminal batch's span (batches, entries, bytes, re-sends) and counted in the metrics; their
    /// Redis commands are pipelined with many runs' and belong to no run's trace (see StreamAppender).
    /// </summary>
    private Activity? StartWriteActivity(PendingBatch batch)
        => batch.IsTerminal ? StartAppendActivity(batch.Index, batch.Count, retry: false, startTime: default) : null;

    /// <summary>
    /// A batch whose first send failed or was not stored as a whole: re-sent on transient failures, a refusal told apart
    /// (a re-send of stored entries, or a newer claim), an expiry reported.
    /// </summary>
    /// <returns>Whether the batch is stored; otherwise the writer is faulted.</returns>
    private async Task<bool> ResolveAsync(PendingBatch batch, Activity? activity, long started, Exception? error, AppendOutcome outcome)
    {
        var ok = true;
        if (error is not null)
        {
            (ok, outcome) = await SendAsync(
                _ => _appender.AppendAsync(batch.Append),
                batch.Count,
                activity,
                batch,
                error).ConfigureAwait(false);
        }

        if (ok && outcome != AppendOutcome.Stored)
        {
            var refusal = outcome == AppendOutcome.Missing ? await MissingAsync().ConfigureAwait(false) : await RefusedAsync(batch).ConfigureAwait(false);
            if (refusal is null && IsFaulted)
            {
                // Telling the refusal apart failed (the writer is faulted with that failure).
                return false;
            }

            if (refusal is not null)
            {
                activity ??= StartAppendActivity(batch.Index, batch.Count, retry: false, DateTime.UtcNow - Stopwatch.GetElapsedTime(started));
                activity?.SetStatus(ActivityStatusCode.Error, refusal.Message);
                activity?.SetTag("error.type", refusal.GetType().FullName);
                activity?.Dispose();
                Fault(refusal, batch.Count, refusal);
                return false;
            }
        }

        return ok;
    }

    /// <summary>Records a batch Redis stored: the write's duration, the entries written, and the terminal batch's span.</summary>
    private void Written(PendingBatch batch, Activity? activity, long started)
    {
        StreamingDiagnostics.WriteDurationHistogram.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        Stored(batch);
        if (activity is not null)
        {
            // The attempt's whole write, in the span that ends it: one batch is in flight at a time, so every batch up
            // to this one is in Redis.
            activity.SetTag(StreamingDiagnostics.Tags.Batches, batch.Index);
            activity.SetTag(StreamingDiagnostics.Tags.Entries, batch.EntriesThrough);
            activity.SetTag(StreamingDiagnostics.Tags.Bytes, batch.BytesThrough);
            activity.SetTag(StreamingDiagnostics.Tags.Resends, Interlocked.Read(ref _resends));
            activity.Dispose();
        }

        // The batch is done with its entries: their list is the next queue.
        batch.Entries.Clear();
        _spare = batch.Entries;
    }

    /// <summary>
    /// Sends until Redis answers, faulting the writer on a failure that is not transient or on an outage longer than
    /// the retry window. Every send of a batch is the same (the entry ids are fixed), so a re-send is idempotent.
    /// </summary>
    /// <param name="send">Sends once; its argument says whether this is a re-send.</param>
    /// <param name="count">The entries sent (for the log and the fault).</param>
    /// <param name="activity">The span the failures are recorded on, if the caller has one.</param>
    /// <param name="batch">The batch sent, if it is one.</param>
    /// <param name="firstError">How a first send made by the caller failed: handled as if <paramref name="send"/> had failed so.</param>
    private async Task<(bool Ok, T Value)> SendAsync<T>(Func<bool, Task<T>> send, int count, Activity? activity, PendingBatch? batch = null, Exception? firstError = null)
    {
        long since = 0;
        var backoff = TimeSpan.Zero;
        var retry = false;
        while (true)
        {
            var error = firstError;
            firstError = null;
            if (error is null)
            {
                var write = send(retry);
                try
                {
                    var value = retry ? await write.WaitAsync(Remaining(since), _time).ConfigureAwait(false) : await write.ConfigureAwait(false);
                    if (retry)
                    {
                        var outage = _time.GetElapsedTime(since);
                        StreamingDiagnostics.WriteOutagesCounter.Add(1);
                        StreamingLog.WriteRecovered(_logger, _runId, outage);
                    }

                    return (true, value);
                }
                catch (TimeoutException ex) when (retry && !write.IsCompleted)
                {
                    // The window closed while this send was still queued; it may yet apply, in order (its ids are fixed),
                    // unless a newer claim has fenced it out.
                    Forget(write);
                    Fault(WriteErrors.Outage(_runId, _attempt, _time.GetElapsedTime(since), _retryTimeout, ex), count, ex);
                    return (false, default!);
                }
                catch (Exception ex)
                {
                    error = ex;
                }
            }

            var failed = activity ?? (retry || batch is not null ? StartAppendActivity(batch?.Index ?? 1, count, retry, startTime: default) : null);
            failed?.SetStatus(ActivityStatusCode.Error, error.Message);
            failed?.SetTag("error.type", error.GetType().FullName);
            if (activity is null)
            {
                failed?.Dispose();
            }

            if (_retryTimeout <= TimeSpan.Zero || !RedisFailurePolicy.IsTransient(error))
            {
                Fault(WriteErrors.FromFailure(_runId, _attempt, error), count, error);
                return (false, default!);
            }

            if (!retry)
            {
                since = _time.GetTimestamp();
                retry = true;
                StreamingLog.WriteRetrying(_logger, _runId, error.Message, _retryTimeout, error);
            }

            var left = Remaining(since);
            if (left <= TimeSpan.Zero)
            {
                Fault(WriteErrors.Outage(_runId, _attempt, _time.GetElapsedTime(since), _retryTimeout, error), count, error);
                return (false, default!);
            }

            backoff = RedisFailurePolicy.NextDelay(backoff);
            await Task.Delay(backoff < left ? backoff : left, _time).ConfigureAwait(false);
            if (Remaining(since) <= TimeSpan.Zero)
            {
                Fault(WriteErrors.Outage(_runId, _attempt, _time.GetElapsedTime(since), _retryTimeout, error), count, error);
                return (false, default!);
            }

            StreamingDiagnostics.WriteRetriesCounter.Add(1);
            Interlocked.Increment(ref _resends);
        }
    }

    /// <summary>
    /// Redis refused entries of the batch as not above the stream's last id. When the stream's last entry is this
    /// writer's, at or past the batch's last, the batch was stored by an earlier send whose reply was lost: it is
    /// acknowledged. Otherwise a newer claim or the terminal entry is in the way.
    /// </summary>
    /// <returns><see langword="null"/> when the batch is stored; else the failure.</returns>
    private async Task<AgentStreamWriteException?> RefusedAsync(PendingBatch batch)
    {
        var (ok, state) = await SendAsync(
            async _ =>
            {
                var epoch = _database.HashGetAsync(_keys[1], "epoch");
                var top = _database.StreamRangeAsync(_keys[0], "-", "+", 1, Order.Descending);
                return (Epoch: await epoch.ConfigureAwait(false), Top: await top.ConfigureAwait(false));
            },
            batch.Count,
            activity: null).ConfigureAwait(false);
        if (!ok)
        {
            return null;
        }

        var mine = EntryIds.EpochOf(_base);
        var hasTop = state.Top.Length == 1;
        var last = hasTop ? state.Top[0] : default;
        var topEpoch = -1L;
        if (hasTop && StreamCursor.TryParse(last.Id.ToString(), out var top))
        {
            topEpoch = top.Milliseconds / EntryIds.Stride > long.MaxValue ? long.MaxValue : EntryIds.EpochOf((long)top.Milliseconds);
            if (topEpoch == mine && top.Sequence == 0 && (long)top.Milliseconds >= batch.LastSequence)
            {
                return null;
            }
        }

        if (hasTop && StreamChunkParser.Parse(last).IsTerminal)
        {
            return WriteErrors.Terminated(_runId);
        }

        return (state.Epoch.HasValue && (long)state.Epoch > mine) || topEpoch > mine
            ? WriteErrors.Fenced(_runId, _attempt)
            : WriteErrors.Refused(_runId, _attempt, hasTop ? last.Id.ToString() : "none");
    }

    /// <summary>The stream is gone: expired (its metadata remains), or Redis lost what it had confirmed (both gone).</summary>
    private async Task<AgentStreamWriteException?> MissingAsync()
    {
        var (ok, meta) = await SendAsync(_ => _database.KeyExistsAsync(_keys[1]), 0, activity: null).ConfigureAwait(false);
        return !ok ? null : meta ? WriteErrors.Expired(_runId, _attempt) : WriteErrors.LostConfirmed(_runId, _attempt);
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
            StopPumpingLocked();
        }
    }

    private static void Forget(Task write)
        => _ = write.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private PendingBatch Build(List<AgentStreamEntry> entries)
    {
        // Built by the pump alone, in order: the running totals need no synchronization.
        foreach (var entry in entries)
        {
            _bytesEncoded += Utf8Length(entry);
        }

        _entriesEncoded += entries.Count;
        var first = _next;
        _next += entries.Count;

        // The TTLs (and the metadata's mark that entries were written) are refreshed on the writer's first batch, at
        // least every eighth of the TTL while it writes, and on its terminal entry, from which its readers' time counts.
        var terminal = entries[^1].IsTerminal;
        var refresh = !_written || terminal || _time.GetElapsedTime(_refreshedAt) * 8 >= _refresh.Ttl;
        if (refresh)
        {
            _refreshedAt = _time.GetTimestamp();
            _written = true;
        }

        _append.Arm(_previousId, first, entries, _encoder.TakeTraceParent(), refresh ? _refresh : null);
        _previousId = _append.LastId;
        _batch.Set(entries, ++_batchIndex, _entriesEncoded, _bytesEncoded);
        return _batch;
    }

    private Activity? StartAppendActivity(long index, int count, bool retry, DateTimeOffset startTime, string operation = "XADD")
    {
        var activity = StreamingDiagnostics.ActivitySource.StartActivity(StreamingDiagnostics.AppendActivityName, ActivityKind.Client, parentContext: _parentContext, startTime: startTime);
        if (activity is not null)
        {
            activity.SetTag("db.system.name", "redis");
            activity.SetTag("db.operation.name", operation);
            activity.SetTag("db.query.summary", operation + " agent-stream");
            activity.SetTag(StreamingDiagnostics.Tags.RunId, _runId);
            activity.SetTag(StreamingDiagnostics.Tags.Attempt, _attempt);
            activity.SetTag(StreamingDiagnostics.Tags.BatchIndex, index);
            activity.SetTag(StreamingDiagnostics.Tags.BatchSize, count);
            if (retry)
            {
                activity.SetTag(StreamingDiagnostics.Tags.BatchRetry, true);
            }
        }

        return activity;
    }

    private void Stored(PendingBatch batch)
    {
        Volatile.Write(ref _lastEntryId, batch.Append.LastId);

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

    /// <summary>
    /// The batch in flight, kept so a re-send is the same commands (same entry ids); one per writer, set again for each
    /// batch (one is in flight at a time).
    /// </summary>
    private sealed class PendingBatch(AppendBatch append)
    {
        public List<AgentStreamEntry> Entries { get; private set; } = [];

        public AppendBatch Append { get; } = append;

        /// <summary>The writer's 1-based batch index (1 is the claim).</summary>
        public long Index { get; private set; }

        /// <summary>The entries of the writer's batches up to and including this one.</summary>
        public long EntriesThrough { get; private set; }

        /// <summary>The UTF-8 payload bytes of the writer's batches up to and including this one.</summary>
        public long BytesThrough { get; private set; }

        public long LastSequence => Append.LastSequence;

        public bool IsTerminal => Entries.Count > 0 && Entries[^1].IsTerminal;

        public int Count => Entries.Count;

        public void Set(List<AgentStreamEntry> entries, long index, long entriesThrough, long bytesThrough)
        {
            Entries = entries;
            Index = index;
            EntriesThrough = entriesThrough;
            BytesThrough = bytesThrough;
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using AgentStreaming.Streaming.Diagnostics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams;

/// <summary>
/// Appends one attempt of one run to its Redis Stream, in order, batched: entries appended while a batch is in
/// flight go out together in the next one, as a single script call (<c>EVALSHA</c> of XADD… + PEXPIRE), so a
/// chunk costs neither an awaited round trip of its own nor a TTL command of its own.
/// </summary>
/// <remarks>
/// <para><see cref="AppendAsync"/> returns as soon as the entry is queued. A failed batch faults the writer: the
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
    private readonly IDatabase _database;
    private readonly RedisKey[] _keys;
    private readonly string _runId;
    private readonly int _attempt;
    private readonly string _ttlMilliseconds;
    private readonly string _metaExtraMilliseconds;
    private readonly string _notifyChannel;
    private readonly int _maxBatchSize;
    private readonly int _maxPending;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly string _writerId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
    private List<AgentStreamEntry> _queue = [];
    private long _batchIndex;
    private string? _traceParent;
    private Task _pump = Task.CompletedTask;
    private bool _pumping;
    private bool _terminalQueued;
    private AgentStreamWriteException? _fault;
    private string? _lastEntryId;

    internal RedisAgentStreamWriter(
        IDatabase database,
        StreamKeys keys,
        string runId,
        int attempt,
        string? traceParent,
        TimeSpan ttl,
        TimeSpan metaExtra,
        string? notifyChannel,
        int maxBatchSize,
        int maxPending,
        ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        _database = database;
        _runId = runId;
        _keys = [keys.Stream(runId), keys.Meta(runId)];
        _attempt = attempt;
        _traceParent = string.IsNullOrEmpty(traceParent) ? null : traceParent;
        _ttlMilliseconds = ((long)ttl.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        _metaExtraMilliseconds = ((long)metaExtra.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        _notifyChannel = notifyChannel ?? string.Empty;
        _maxBatchSize = maxBatchSize;
        _maxPending = maxPending;
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
        // The pump never faults: a failed batch is recorded in _fault and surfaced here.
        await pump.WaitAsync(cancellationToken).ConfigureAwait(false);
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
        (Task Write, int Count)? inFlight = null;
        while (true)
        {
            List<AgentStreamEntry>? batch = null;
            lock (_gate)
            {
                if (_queue.Count > 0 || claim)
                {
                    if (_queue.Count <= _maxBatchSize)
                    {
                        batch = _queue;
                        _queue = [];
                    }
                    else
                    {
                        batch = _queue.GetRange(0, _maxBatchSize);
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
            var write = batch is null ? null : WriteBatchAsync(batch);
            if (inFlight is { } previous)
            {
                // Two batches at most are in flight, so Redis runs one while the next is prepared. The script refuses a
                // batch whose predecessor did not apply, so a failed batch can never leave a gap before a later one.
                if (!await CompletesAsync(previous.Write, previous.Count).ConfigureAwait(false))
                {
                    if (write is not null)
                    {
                        await ObserveAsync(write).ConfigureAwait(false);
                    }

                    return;
                }
            }

            inFlight = write is null ? null : (write, batch!.Count);
        }
    }

    private async Task<bool> CompletesAsync(Task write, int count)
    {
        try
        {
            await write.ConfigureAwait(false);
            return true;
        }
        catch (Exception ex)
        {
            var fault = ToWriteException(ex);
            StreamingLog.WriteFailed(_logger, _runId, count, fault.Failure, ex);
            lock (_gate)
            {
                _fault = fault;
                _queue.Clear();
                _pumping = false;
            }

            return false;
        }
    }

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

    private async Task WriteBatchAsync(List<AgentStreamEntry> batch)
    {
        var count = batch.Count;
        var values = new List<RedisValue>(7 + (count * 5)) { _ttlMilliseconds, _attempt, count, _writerId, ++_batchIndex, _metaExtraMilliseconds, _notifyChannel };
        for (var i = 0; i < count; i++)
        {
            var entry = batch[i];
            values.Add(entry.Kind.ToWireName());
            values.Add(entry.Text ?? string.Empty);
            var extraIndex = values.Count;
            values.Add(0);
            var extras = 0;
            switch (entry.Kind)
            {
                case StreamEntryKind.Done:
                    values.Add(StreamFields.Done);
                    values.Add("true");
                    extras++;
                    break;
                case StreamEntryKind.Error or StreamEntryKind.Cancelled:
                    values.Add(StreamFields.Error);
                    values.Add(string.IsNullOrEmpty(entry.Error) ? (entry.Kind == StreamEntryKind.Error ? "The run failed." : "The run was cancelled.") : entry.Error);
                    extras++;
                    break;
            }

            if (entry.Data is { Length: > 0 } data)
            {
                values.Add(StreamFields.Data);
                values.Add(data);
                extras++;
            }

            if (_traceParent is { } traceParent)
            {
                values.Add(StreamFields.TraceParent);
                values.Add(traceParent);
                extras++;
                _traceParent = null;
            }

            values[extraIndex] = extras;
        }

        using var activity = StreamingDiagnostics.ActivitySource.StartActivity("agent_stream append", ActivityKind.Client);
        if (activity is not null)
        {
            activity.SetTag("db.system.name", "redis");
            activity.SetTag("db.operation.name", "EVALSHA");
            activity.SetTag("db.query.summary", "XADD agent-stream");
            activity.SetTag("agent_streaming.run.id", _runId);
            activity.SetTag("agent_streaming.run.attempt", _attempt);
            activity.SetTag("agent_streaming.batch.size", count);
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            var result = (RedisResult[])(await _database.ScriptEvaluateAsync(RedisStreamScripts.Append, _keys, [.. values]).ConfigureAwait(false))!;
            var last = (string?)result[0];
            if (!string.IsNullOrEmpty(last))
            {
                Volatile.Write(ref _lastEntryId, last);
            }
        }
        catch (Exception ex) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw;
        }

        StreamingDiagnostics.WriteDurationHistogram.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        for (var i = 0; i < count; i++)
        {
            StreamingDiagnostics.EntriesWrittenCounter.Add(1, new KeyValuePair<string, object?>(StreamingDiagnostics.EntryTypeTag, batch[i].Kind.ToWireName()));
        }
    }

    private AgentStreamWriteException ToWriteException(Exception ex)
    {
        if (ex is RedisServerException server)
        {
            if (server.Message.Contains(RedisStreamScripts.FencedPrefix, StringComparison.Ordinal))
            {
                return new AgentStreamWriteException(_runId, AgentStreamWriteFailure.Fenced,
                    $"Attempt {_attempt} of run '{_runId}' may no longer write: a newer attempt has taken over the stream.", ex);
            }

            if (server.Message.Contains(RedisStreamScripts.OrderPrefix, StringComparison.Ordinal))
            {
                return new AgentStreamWriteException(_runId, AgentStreamWriteFailure.Redis,
                    $"Writing to the stream of run '{_runId}' stopped: an earlier batch of this writer was not stored.", ex);
            }

            if (server.Message.Contains(RedisStreamScripts.ExpiredPrefix, StringComparison.Ordinal))
            {
                return new AgentStreamWriteException(_runId, AgentStreamWriteFailure.Expired,
                    $"The stream of run '{_runId}' expired or was evicted; attempt {_attempt} may not write to it (its readers were told it expired).", ex);
            }

            if (server.Message.Contains(RedisStreamScripts.TerminatedPrefix, StringComparison.Ordinal))
            {
                return new AgentStreamWriteException(_runId, AgentStreamWriteFailure.AlreadyTerminated,
                    $"The stream of run '{_runId}' already holds its terminal entry; nothing more can be written.", ex);
            }
        }

        return new AgentStreamWriteException(_runId, AgentStreamWriteFailure.Redis,
            $"Writing to the stream of run '{_runId}' failed: {ex.Message}", ex);
    }
}

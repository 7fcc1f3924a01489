using System.Runtime.CompilerServices;
using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams;

/// <summary>Reads a run's stream from the start or after a cursor, live, until its terminal entry.</summary>
public interface IAgentStreamReader
{
    /// <summary>
    /// Reads the entries of a run's stream strictly after <paramref name="cursor"/> (or from the start), then waits
    /// for new ones, and ends after the terminal entry.
    /// </summary>
    /// <param name="runId">The run id.</param>
    /// <param name="cursor">The entry id of the last entry already received, or <see langword="null"/> to read from the start.</param>
    /// <param name="cancellationToken">Stops the read promptly.</param>
    /// <returns>The entries, in order, each exactly once.</returns>
    /// <exception cref="ArgumentException">The run id or cursor is malformed (thrown before Redis is touched).</exception>
    /// <exception cref="AgentStreamNotFoundException">The stream does not exist (after the configured wait) or expired while being read.</exception>
    /// <exception cref="AgentStreamUnavailableException">Redis was unreachable for longer than the reconnect deadline.</exception>
    IAsyncEnumerable<StreamChunk> ReadStreamAsync(string runId, string? cursor = null, CancellationToken cancellationToken = default);
}

/// <summary>
/// The Redis Stream handler of agent responses: creates writers for run attempts and reads run streams live.
/// </summary>
/// <remarks>
/// Catch-up reads use <c>XRANGE key (cursor + COUNT n</c> on the shared multiplexer; live entries come from one
/// shared blocking <c>XREAD</c> per process (<see cref="RedisStreamTail"/>), on a connection this handler opens and
/// owns. The multiplexer passed in is not disposed.
/// </remarks>
public sealed class RedisStreamResponseHandler : IAgentStreamReader, IAsyncDisposable
{
    private readonly IConnectionMultiplexer _multiplexer;
    private readonly RedisAgentStreamingOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly RedisStreamTail _tail;
    private const int FirstPageSize = 32;

    /// <summary>Creates the handler.</summary>
    /// <param name="multiplexer">The shared Redis connection (not disposed by the handler).</param>
    /// <param name="options">The options.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="timeProvider">The clock for deadlines; the system clock when <see langword="null"/>.</param>
    public RedisStreamResponseHandler(
        IConnectionMultiplexer multiplexer,
        IOptions<RedisAgentStreamingOptions> options,
        ILogger<RedisStreamResponseHandler>? logger = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        ArgumentNullException.ThrowIfNull(options);
        _multiplexer = multiplexer;
        _options = options.Value;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        Keys = new StreamKeys(_options.KeyPrefix);
        _tail = new RedisStreamTail(multiplexer, _options, _logger, _time);
    }

    /// <summary>The key names this handler uses.</summary>
    public StreamKeys Keys { get; }

    /// <summary>Readers currently waiting for live entries (all share one Redis connection).</summary>
    public int LiveReaderCount => _tail.SubscriberCount;

    /// <summary>Creates the writer of one attempt of a run.</summary>
    /// <param name="runId">The run id.</param>
    /// <param name="attempt">The 1-based attempt.</param>
    /// <param name="traceParent">W3C <c>traceparent</c> of the run, written on the attempt's first entry.</param>
    /// <returns>The writer.</returns>
    /// <exception cref="ArgumentException">The run id is malformed.</exception>
    public RedisAgentStreamWriter CreateWriter(string runId, int attempt = 1, string? traceParent = null)
    {
        StreamKeys.ValidateRunId(runId);
        return new RedisAgentStreamWriter(
            _multiplexer.GetDatabase(), Keys, runId, attempt, traceParent, _options.StreamTtl, _options.MaxBatchSize, _options.MaxPendingEntries, _logger);
    }

    /// <summary>Whether the run's stream (or its writer's metadata) exists.</summary>
    /// <param name="runId">The run id.</param>
    /// <returns><see langword="true"/> while the stream has not expired.</returns>
    /// <remarks>Uses <c>EXISTS stream meta</c>.</remarks>
    public async Task<bool> StreamExistsAsync(string runId)
    {
        StreamKeys.ValidateRunId(runId);
        return await _multiplexer.GetDatabase().KeyExistsAsync([Keys.Stream(runId), Keys.Meta(runId)]).ConfigureAwait(false) > 0;
    }

    /// <inheritdoc />
    public IAsyncEnumerable<StreamChunk> ReadStreamAsync(string runId, string? cursor = null, CancellationToken cancellationToken = default)
    {
        // Validate eagerly: an async iterator would defer these errors to the first MoveNextAsync.
        StreamKeys.ValidateRunId(runId);
        var after = string.IsNullOrEmpty(cursor) ? StreamCursor.Start : StreamCursor.Parse(cursor, nameof(cursor));
        return ReadCoreAsync(runId, after, cancellationToken);
    }

    private async IAsyncEnumerable<StreamChunk> ReadCoreAsync(string runId, StreamCursor after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var key = Keys.Stream(runId);
        var metaKey = Keys.Meta(runId);
        var database = _multiplexer.GetDatabase();
        var last = after;
        var knownToExist = false;
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
                var entries = await RetryAsync(runId, () => database.StreamRangeAsync(key, "(" + last.ToString(), "+", count), cancellationToken).ConfigureAwait(false);
                page = Math.Min(page * 4, _options.ReadBatchSize);
                foreach (var entry in entries)
                {
                    var chunk = StreamChunkParser.Parse(entry);
                    last = StreamCursor.Parse(chunk.EntryId);
                    knownToExist = true;
                    StreamingDiagnostics.EntriesDeliveredCounter.Add(1);
                    yield return chunk;
                    if (chunk.IsTerminal)
                    {
                        yield break;
                    }
                }

                if (entries.Length < count)
                {
                    break;
                }
            }

            var probe = await ProbeAsync(runId, database, key, metaKey, cancellationToken).ConfigureAwait(false);
            if (probe.TerminalAt is { } terminalAt && terminalAt <= last)
            {
                // The cursor was at or past the terminal entry: nothing more will come.
                yield break;
            }

            knownToExist |= probe.Exists;
            if (!knownToExist && _options.NotFoundTimeout == TimeSpan.Zero)
            {
                throw new AgentStreamNotFoundException(runId, expiredWhileReading: false);
            }

            // Live: the shared tail delivers entries after `last` as Redis receives them.
            using var subscription = _tail.Subscribe(key, last);
            var reader = subscription.Reader;
            var fallBehind = false;
            while (!fallBehind)
            {
                while (reader.TryRead(out var chunk))
                {
                    last = StreamCursor.Parse(chunk.EntryId);
                    knownToExist = true;
                    StreamingDiagnostics.EntriesDeliveredCounter.Add(1);
                    yield return chunk;
                    if (chunk.IsTerminal)
                    {
                        yield break;
                    }

                    subscription.OnDrained();
                }

                var wait = _options.IdleCheckInterval;
                if (!knownToExist)
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
                    if (terminal <= last)
                    {
                        yield break;
                    }

                    fallBehind = true;
                    continue;
                }

                if (!probe.Exists && knownToExist)
                {
                    throw new AgentStreamNotFoundException(runId, expiredWhileReading: true);
                }

                if (!probe.Exists && _time.GetUtcNow() >= notFoundDeadline)
                {
                    throw new AgentStreamNotFoundException(runId, expiredWhileReading: false);
                }

                knownToExist |= probe.Exists;
            }
        }
    }

    /// <summary>Whether the stream exists and where its terminal entry is, if it has one (<c>XREVRANGE key + - COUNT 1</c> and <c>EXISTS meta</c>, pipelined).</summary>
    private Task<(bool Exists, StreamCursor? TerminalAt)> ProbeAsync(string runId, IDatabase database, RedisKey key, RedisKey metaKey, CancellationToken cancellationToken)
        => RetryAsync(runId, async () =>
        {
            var lastTask = database.StreamRangeAsync(key, "-", "+", 1, Order.Descending);
            var metaTask = database.KeyExistsAsync(metaKey);
            var last = await lastTask.ConfigureAwait(false);
            var metaExists = await metaTask.ConfigureAwait(false);
            StreamCursor? terminalAt = last.Length == 1 && StreamChunkParser.Parse(last[0]) is { IsTerminal: true } chunk ? chunk.Cursor : null;
            return (last.Length > 0 || metaExists, terminalAt);
        }, cancellationToken);

    private async Task<T> RetryAsync<T>(string runId, Func<Task<T>> operation, CancellationToken cancellationToken)
    {
        DateTimeOffset? failingSince = null;
        var backoff = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                return await operation().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException
                || (ex is RedisServerException server && server.Message.StartsWith("LOADING", StringComparison.Ordinal)))
            {
                var now = _time.GetUtcNow();
                failingSince ??= now;
                var elapsed = now - failingSince.Value;
                if (elapsed >= _options.ReconnectTimeout)
                {
                    throw new AgentStreamUnavailableException(
                        $"Redis could not be reached for {elapsed.TotalSeconds:0.#} s while reading the stream of run '{runId}'. Check that Redis is running and reachable, then resume from the last entry id you received.",
                        ex);
                }

                StreamingLog.ReadRetry(_logger, runId, elapsed, ex);
                await Task.Delay(backoff, _time, cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }
        }
    }

    /// <summary>
    /// Waits for a reader's next entry with an idle deadline, re-arming one timer per reader instead of allocating a
    /// task and a timer per wait (readers wait once per entry, thousands of times a second in all).
    /// </summary>
    private sealed class IdleWait : IDisposable
    {
        private readonly TimeProvider _time;
        private readonly CancellationToken _cancellationToken;
        private CancellationTokenSource? _deadline;
        private CancellationTokenRegistration _link;

        public IdleWait(TimeProvider time, CancellationToken cancellationToken)
        {
            _time = time;
            _cancellationToken = cancellationToken;
        }

        /// <summary>Whether an entry is available before <paramref name="timeout"/>; <see langword="false"/> when idle.</summary>
        public async ValueTask<bool> WaitToReadAsync(System.Threading.Channels.ChannelReader<StreamChunk> reader, TimeSpan timeout)
        {
            if (_deadline is null || _deadline.IsCancellationRequested)
            {
                _link.Dispose();
                _deadline?.Dispose();
                _deadline = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
                _link = _cancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), _deadline);
            }

            _deadline.CancelAfter(timeout);
            try
            {
                return await reader.WaitToReadAsync(_deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!_cancellationToken.IsCancellationRequested)
            {
                return false;
            }
        }

        public void Dispose()
        {
            _link.Dispose();
            _deadline?.Dispose();
        }
    }

    /// <summary>Stops the shared tail and closes the connection it opened.</summary>
    /// <returns>A task that completes when stopped.</returns>
    public ValueTask DisposeAsync() => _tail.DisposeAsync();
}

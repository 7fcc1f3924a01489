using System.Collections.Concurrent;
using AgentStreaming.Streaming.Streams;
using Microsoft.Agents.AI;

namespace AgentStreaming.Streaming.Callbacks;

/// <summary>
/// The Redis-backed <see cref="IAgentResponseCallback"/>: appends each run's response to its stream
/// <c>agent-stream:{runId}</c> — text chunks, tool calls and results and usage as typed entries — and ends it with
/// exactly one terminal entry.
/// </summary>
/// <remarks>
/// <para>One <see cref="RedisAgentStreamWriter"/> per run attempt batches the entries; updates return without waiting
/// for Redis, the terminal methods wait until everything is stored and throw if anything was not.</para>
/// <para>Writers that end without a terminal entry leave nothing behind: a writer is dropped as soon as Redis refuses
/// its attempt for good (fenced by a newer attempt, stream already terminated, stream expired), and any writer unused
/// for the stream TTL is dropped on the next call (a writer whose batch failed is kept until then, so a later
/// <c>done</c> of that attempt still fails instead of hiding the lost entries). <see cref="ActiveRuns"/> is thus
/// bounded by the attempts written to within one TTL.</para>
/// </remarks>
public sealed class RedisStreamResponseCallback : IAgentResponseCallback
{
    private readonly RedisStreamResponseHandler _handler;
    private readonly TimeProvider _time;
    private readonly TimeSpan _idleLimit;
    private readonly ConcurrentDictionary<(string RunId, int Attempt), Slot> _writers = new();
    private long _nextSweep;

    /// <summary>Creates the callback.</summary>
    /// <param name="handler">The stream handler that creates writers.</param>
    /// <param name="timeProvider">The clock that decides when an unused writer is dropped; the system clock when <see langword="null"/>.</param>
    public RedisStreamResponseCallback(RedisStreamResponseHandler handler, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handler = handler;
        _time = timeProvider ?? TimeProvider.System;
        _idleLimit = handler.Options.StreamTtl;
    }

    /// <summary>Attempts whose writer is held: begun, not yet ended with a terminal entry, not refused, and used within the stream TTL.</summary>
    public int ActiveRuns
    {
        get
        {
            Sweep(force: true);
            return _writers.Count;
        }
    }

    /// <inheritdoc />
    /// <remarks>Claims the stream for the attempt (fencing out older attempts) and, after a crash, writes the <c>reset</c> entry.</remarks>
    public async ValueTask OnRunStartedAsync(AgentResponseCallbackContext context, CancellationToken cancellationToken = default)
    {
        await WriteAsync(context, static (writer, _, ct) => writer.BeginAsync(ct), (object?)null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask OnStreamingResponseUpdateAsync(AgentResponseUpdate update, AgentResponseCallbackContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        var entries = new List<AgentStreamEntry>(2);
        AgentResponseUpdateMapper.Map(update, entries);
        await WriteAsync(context, static async (writer, entries, ct) =>
        {
            foreach (var entry in entries)
            {
                await writer.AppendAsync(entry, ct).ConfigureAwait(false);
            }
        }, entries, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>Waits for the attempt's writer to have every queued entry in Redis.</remarks>
    public async ValueTask FlushAsync(AgentResponseCallbackContext context, CancellationToken cancellationToken = default)
    {
        await WriteAsync(context, static (writer, _, ct) => writer.FlushAsync(ct), (object?)null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask OnAgentResponseAsync(AgentResponse response, AgentResponseCallbackContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(response);
        var usage = response.Usage is { } details ? AgentResponseUpdateMapper.UsageJson(details) : null;
        return CompleteAsync(context, AgentStreamEntry.ForDone(usage), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask OnRunFailedAsync(string message, AgentResponseCallbackContext context, CancellationToken cancellationToken = default)
        => CompleteAsync(context, AgentStreamEntry.ForError(string.IsNullOrWhiteSpace(message) ? "The run failed." : message), cancellationToken);

    /// <inheritdoc />
    public ValueTask OnRunCancelledAsync(string message, AgentResponseCallbackContext context, CancellationToken cancellationToken = default)
        => CompleteAsync(context, AgentStreamEntry.ForCancelled(string.IsNullOrWhiteSpace(message) ? "The run was cancelled." : message), cancellationToken);

    private async ValueTask CompleteAsync(AgentResponseCallbackContext context, AgentStreamEntry terminal, CancellationToken cancellationToken)
    {
        var writer = GetWriter(context);
        if (writer.IsFaulted && terminal.Kind != StreamEntryKind.Done)
        {
            // Entries were lost with the failed batch, so the run cannot end in success; a failure or
            // cancellation can still be recorded on a fresh writer once Redis answers again.
            writer = _handler.CreateWriter(context.RunId, context.Attempt, context.TraceParent);
        }

        try
        {
            await writer.CompleteAsync(terminal, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writers.TryRemove((context.RunId, context.Attempt), out _);
        }
    }

    private RedisAgentStreamWriter GetWriter(AgentResponseCallbackContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Sweep(force: false);
        var now = _time.GetTimestamp();
        var slot = _writers.GetOrAdd(
            (context.RunId, context.Attempt),
            static (key, state) => new Slot(state.Handler.CreateWriter(key.RunId, key.Attempt, state.TraceParent)),
            (Handler: _handler, context.TraceParent));
        Volatile.Write(ref slot.LastUsed, now);
        return slot.Writer;
    }

    /// <summary>Runs <paramref name="write"/> on the attempt's writer, forgetting the writer when Redis refuses the attempt for good.</summary>
    private async ValueTask WriteAsync<TState>(
        AgentResponseCallbackContext context, Func<RedisAgentStreamWriter, TState, CancellationToken, Task> write, TState state, CancellationToken cancellationToken)
    {
        var writer = GetWriter(context);
        try
        {
            await write(writer, state, cancellationToken).ConfigureAwait(false);
        }
        catch (AgentStreamWriteException ex)
        {
            ForgetIfRefused(context, writer, ex);
            throw;
        }
    }

    private void ForgetIfRefused(AgentResponseCallbackContext context, RedisAgentStreamWriter writer, AgentStreamWriteException error)
    {
        // Refused for good: this attempt can never write again, so nothing needs its writer.
        if (error.Failure is AgentStreamWriteFailure.Fenced or AgentStreamWriteFailure.AlreadyTerminated or AgentStreamWriteFailure.Expired
            && _writers.TryGetValue((context.RunId, context.Attempt), out var slot) && slot.Writer == writer)
        {
            _writers.TryRemove(new KeyValuePair<(string, int), Slot>((context.RunId, context.Attempt), slot));
        }
    }

    /// <summary>Drops writers unused for the stream TTL; runs at most every tenth of it unless forced.</summary>
    private void Sweep(bool force)
    {
        var now = _time.GetTimestamp();
        var next = Volatile.Read(ref _nextSweep);
        if (!force && now < next)
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _nextSweep, now + (long)(_idleLimit.TotalSeconds / 10 * _time.TimestampFrequency), next) != next && !force)
        {
            return;
        }

        foreach (var (key, slot) in _writers)
        {
            if (_time.GetElapsedTime(Volatile.Read(ref slot.LastUsed), now) >= _idleLimit)
            {
                _writers.TryRemove(new KeyValuePair<(string, int), Slot>(key, slot));
            }
        }
    }

    private sealed class Slot(RedisAgentStreamWriter writer)
    {
        public readonly RedisAgentStreamWriter Writer = writer;
        public long LastUsed;
    }
}

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
/// One <see cref="RedisAgentStreamWriter"/> per run attempt batches the entries; updates return without waiting for
/// Redis, the terminal methods wait until everything is stored and throw if anything was not.
/// </remarks>
public sealed class RedisStreamResponseCallback : IAgentResponseCallback
{
    private readonly RedisStreamResponseHandler _handler;
    private readonly ConcurrentDictionary<(string RunId, int Attempt), RedisAgentStreamWriter> _writers = new();

    /// <summary>Creates the callback.</summary>
    /// <param name="handler">The stream handler that creates writers.</param>
    public RedisStreamResponseCallback(RedisStreamResponseHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handler = handler;
    }

    /// <summary>Attempts whose terminal entry has not been written yet.</summary>
    public int ActiveRuns => _writers.Count;

    /// <inheritdoc />
    /// <remarks>Claims the stream for the attempt (fencing out older attempts) and, after a crash, writes the <c>reset</c> entry.</remarks>
    public async ValueTask OnRunStartedAsync(AgentResponseCallbackContext context, CancellationToken cancellationToken = default)
        => await GetWriter(context).BeginAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask OnStreamingResponseUpdateAsync(AgentResponseUpdate update, AgentResponseCallbackContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        var writer = GetWriter(context);
        var entries = new List<AgentStreamEntry>(2);
        AgentResponseUpdateMapper.Map(update, entries);
        foreach (var entry in entries)
        {
            await writer.AppendAsync(entry, cancellationToken).ConfigureAwait(false);
        }
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
            var fresh = _handler.CreateWriter(context.RunId, context.Attempt, context.TraceParent);
            _writers.TryUpdate((context.RunId, context.Attempt), fresh, writer);
            writer = fresh;
        }

        try
        {
            await writer.CompleteAsync(terminal, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writers.TryRemove(new KeyValuePair<(string, int), RedisAgentStreamWriter>((context.RunId, context.Attempt), writer));
        }
    }

    private RedisAgentStreamWriter GetWriter(AgentResponseCallbackContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return _writers.GetOrAdd((context.RunId, context.Attempt), static (key, state) => state.Handler.CreateWriter(key.RunId, key.Attempt, state.TraceParent), (Handler: _handler, context.TraceParent));
    }
}

using System.Diagnostics;
using AgentStreaming.DurableAgents.Diagnostics;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>
/// The client side of the durable agents: starts runs (fire-and-forget or waiting), cancels them, reads
/// conversations, and streams a run's response from Redis.
/// </summary>
public sealed class DurableAgentClient
{
    private readonly IGrainFactory _grains;
    private readonly IAgentStreamReader _streams;
    private readonly TimeSpan _retryTimeout;

    /// <summary>Creates the client.</summary>
    /// <param name="grains">The Orleans cluster client (or a silo's grain factory).</param>
    /// <param name="streams">The Redis stream reader.</param>
    /// <param name="retryTimeout">How long calls are retried while no worker answers (a worker restarting, a gateway gone). Default 30 s.</param>
    public DurableAgentClient(IGrainFactory grains, IAgentStreamReader streams, TimeSpan? retryTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(streams);
        _grains = grains;
        _streams = streams;
        _retryTimeout = retryTimeout ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>A proxy for an agent hosted by the workers.</summary>
    /// <param name="name">The agent's name, e.g. <c>TravelPlanner</c>.</param>
    /// <returns>The proxy (an unknown name fails at the first run, with the names the workers host).</returns>
    public DurableAIAgentProxy GetAgent(string name)
    {
        _ = DurableAgentNames.ConversationKey(name, "x");
        return new DurableAIAgentProxy(this, name);
    }

    /// <summary>Reads a run's stream from the start or after a cursor, live, until its terminal entry.</summary>
    /// <param name="runId">The run.</param>
    /// <param name="cursor">The last entry id received, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Stops reading.</param>
    /// <returns>The entries.</returns>
    public IAsyncEnumerable<StreamChunk> StreamAsync(string runId, string? cursor = null, CancellationToken cancellationToken = default)
        => _streams.ReadStreamAsync(runId, cursor, cancellationToken);

    internal IAgentConversationGrain Conversation(string agentName, string conversationId)
        => _grains.GetGrain<IAgentConversationGrain>(DurableAgentNames.ConversationKey(agentName, conversationId));

    internal async Task<DurableRunResult> RunAsync(string agentName, DurableAgentSession session, string message, DurableRunOptions options, CancellationToken cancellationToken)
    {
        using var activity = DurableAgentsDiagnostics.ActivitySource.StartActivity($"run_agent {agentName}", ActivityKind.Client);
        activity?.SetTag(DurableAgentsDiagnostics.Tags.AgentName, agentName);
        activity?.SetTag(DurableAgentsDiagnostics.Tags.ConversationId, session.ConversationId);
        // A run id chosen here makes retries after a lost answer idempotent: the worker returns the same run.
        var request = new RunRequest(message, options.RunId ?? StreamKeys.NewRunId(), Activity.Current?.Id);
        var grain = Conversation(agentName, session.ConversationId);
        var handle = await CallAsync(() => grain.RunAsync(request), cancellationToken).ConfigureAwait(false);
        activity?.SetTag(DurableAgentsDiagnostics.Tags.RunId, handle.RunId);
        if (!options.WaitForResponse)
        {
            return new DurableRunResult(handle, null);
        }

        await foreach (var chunk in _streams.ReadStreamAsync(handle.RunId, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (chunk.IsTerminal)
            {
                break;
            }
        }

        var run = await CallAsync(() => grain.GetRunAsync(handle.RunId), cancellationToken).ConfigureAwait(false);
        return new DurableRunResult(handle with { Status = run?.Status ?? handle.Status }, run);
    }

    /// <summary>
    /// Calls a grain, retrying while no worker can take the call (connection refused, silo gone, gateway list
    /// stale) until the retry deadline; then fails with a message saying what to do.
    /// </summary>
    internal async Task<T> CallAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                return await call().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                if (Stopwatch.GetElapsedTime(started) >= _retryTimeout)
                {
                    throw new DurableAgentsUnavailableException(
                        $"No worker answered within {_retryTimeout.TotalSeconds:0} s. Check that at least one Worker is running and uses the same Redis and cluster id.", ex);
                }

                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
            }
        }
    }

    private static bool IsTransient(Exception ex) => ex is Orleans.Runtime.Messaging.ConnectionFailedException
        or SiloUnavailableException
        or OrleansMessageRejectionException
        or GatewayTooBusyException
        or TimeoutException;
}

/// <summary>A conversation with an agent (the original sample's thread).</summary>
/// <param name="ConversationId">The conversation id.</param>
public sealed record DurableAgentSession(string ConversationId);

/// <summary>How to run.</summary>
public sealed record DurableRunOptions
{
    /// <summary>Fire-and-forget (<see langword="false"/>, the default: answer with the run id at once) or wait for the response.</summary>
    public bool WaitForResponse { get; init; }

    /// <summary>A run id of the caller's, for idempotent retries.</summary>
    public string? RunId { get; init; }
}

/// <summary>The result of <see cref="DurableAIAgentProxy.RunAsync"/>.</summary>
/// <param name="Handle">The accepted run: its id and stream key.</param>
/// <param name="Run">The finished run, when the caller waited for it.</param>
public sealed record DurableRunResult(RunHandle Handle, RunInfo? Run)
{
    /// <summary>The run id.</summary>
    public string RunId => Handle.RunId;

    /// <summary>The Redis Stream key of the response.</summary>
    public string StreamKey => Handle.StreamKey;

    /// <summary>The response text, when the caller waited and the run completed (partial when cancelled).</summary>
    public string? Text => Run?.ResponseText;
}

using System.Diagnostics;
using System.Runtime.CompilerServices;
using AgentStreaming.DurableAgents.Diagnostics;
using AgentStreaming.DurableAgents.Recovery;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>
/// The client side of the durable agents: hands out <see cref="DurableAIAgentProxy"/>s (the agents as Agent Framework
/// <c>AIAgent</c>s), and reads a run's response from its Redis Stream.
/// </summary>
public sealed class DurableAgentClient
{
    private readonly IGrainFactory? _grains;
    private readonly IAgentStreamReader _streams;
    private readonly RunIndex _runs;
    private readonly TimeSpan _retryTimeout;

    /// <summary>Creates the client.</summary>
    /// <param name="grains">The Orleans cluster client (or a silo's grain factory).</param>
    /// <param name="streams">The Redis stream reader.</param>
    /// <param name="runs">The run index (finds a run's conversation from its id).</param>
    /// <param name="retryTimeout">How long calls are retried while no worker answers (a worker restarting, a gateway gone). Default 30 s.</param>
    public DurableAgentClient(IGrainFactory grains, IAgentStreamReader streams, RunIndex runs, TimeSpan? retryTimeout = null)
        : this(streams, runs)
    {
        ArgumentNullException.ThrowIfNull(grains);
        _grains = grains;
        _retryTimeout = retryTimeout ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>
    /// Creates a client that only reads runs' streams, from Redis alone (no Orleans client, no Worker needed): its
    /// agents resume streams with a continuation token (<c>RunStreamingAsync</c>); starting, polling, cancelling and
    /// reading conversations throw <see cref="InvalidOperationException"/>.
    /// </summary>
    /// <param name="streams">The Redis stream reader.</param>
    /// <param name="runs">The run index.</param>
    public DurableAgentClient(IAgentStreamReader streams, RunIndex runs)
    {
        ArgumentNullException.ThrowIfNull(streams);
        ArgumentNullException.ThrowIfNull(runs);
        _streams = streams;
        _runs = runs;
    }

    /// <summary>The durable agent as an Agent Framework <c>AIAgent</c>.</summary>
    /// <param name="name">The agent's name, e.g. <c>TravelPlanner</c>.</param>
    /// <returns>The agent (an unknown name fails at the first run, with the names the workers host).</returns>
    /// <exception cref="ArgumentException">The name is malformed.</exception>
    public DurableAIAgentProxy GetAgent(string name)
    {
        _ = DurableAgentNames.ConversationKey(name, "x");
        return new DurableAIAgentProxy(this, name);
    }

    /// <summary>Reads a run's stream entries from the start or after a cursor, live, until its terminal entry.</summary>
    /// <param name="runId">The run.</param>
    /// <param name="cursor">The last entry id received, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Stops reading.</param>
    /// <returns>The entries, as Streaming.Core's reader delivers them.</returns>
    /// <remarks>The raw entries; <see cref="DurableAIAgentProxy"/>'s <c>RunStreamingAsync</c> gives them as framework updates.</remarks>
    public IAsyncEnumerable<StreamChunk> StreamAsync(string runId, string? cursor = null, CancellationToken cancellationToken = default)
        => _streams.ReadStreamAsync(runId, cursor, cancellationToken);

    internal IAgentConversationGrain Conversation(string agentName, string conversationId)
        => Grains.GetGrain<IAgentConversationGrain>(DurableAgentNames.ConversationKey(agentName, conversationId));

    /// <summary>Finds a run's agent and conversation in the run index (<c>HMGET agent-run:{runId}</c>).</summary>
    internal Task<RunLocation?> FindRunAsync(string runId) => _runs.FindAsync(runId);

    internal async Task<RunHandle> StartRunAsync(string agentName, string conversationId, string message, string? runId, CancellationToken cancellationToken)
    {
        var grain = Conversation(agentName, conversationId);
        using var activity = DurableAgentsDiagnostics.ActivitySource.StartActivity($"run_agent {agentName}", ActivityKind.Client);
        activity?.SetTag(DurableAgentsDiagnostics.Tags.AgentName, agentName);
        activity?.SetTag(DurableAgentsDiagnostics.Tags.ConversationId, conversationId);
        // A run id chosen here makes retries after a lost answer idempotent: the worker returns the same run.
        var request = new RunRequest(message, runId ?? RunIds.New(), Activity.Current?.Id);
        var handle = await CallAsync(() => grain.RunAsync(request), cancellationToken).ConfigureAwait(false);
        activity?.SetTag(DurableAgentsDiagnostics.Tags.RunId, handle.RunId);
        return handle;
    }

    internal Task<RunInfo?> GetRunAsync(RunLocation location, string runId, CancellationToken cancellationToken = default)
    {
        var grain = Conversation(location.AgentName, location.ConversationId);
        return CallAsync(() => grain.GetRunAsync(runId), cancellationToken);
    }

    /// <summary>
    /// Reads a run's stream strictly after <paramref name="after"/> until its terminal entry. A stream that does not
    /// exist yet is waited for while the workers say the run is queued; one that is gone is reported as expired.
    /// </summary>
    /// <exception cref="DurableRunExpiredException">The run's stream has expired.</exception>
    /// <exception cref="DurableRunNotFoundException">The run's conversation no longer knows it.</exception>
    internal async IAsyncEnumerable<StreamChunk> ReadRunAsync(RunLocation location, string runId, string? after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var cursor = after;
        while (true)
        {
            var entries = _streams.ReadStreamAsync(runId, cursor, cancellationToken).GetAsyncEnumerator(cancellationToken);
            try
            {
                while (true)
                {
                    bool more;
                    try
                    {
                        more = await entries.MoveNextAsync().ConfigureAwait(false);
                    }
                    catch (AgentStreamNotFoundException ex)
                    {
                        if (!ex.ExpiredWhileReading && await IsPendingAsync(location, runId, cancellationToken).ConfigureAwait(false))
                        {
                            // Queued behind earlier runs of its conversation: its stream starts when it does.
                            break;
                        }

                        throw Expired(runId, ex);
                    }

                    if (!more)
                    {
                        yield break;
                    }

                    cursor = entries.Current.EntryId;
                    yield return entries.Current;
                }
            }
            finally
            {
                await entries.DisposeAsync().ConfigureAwait(false);
            }
        }
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

    private IGrainFactory Grains => _grains ?? throw new InvalidOperationException(
        "This DurableAgentClient reads run streams only (it was created without an Orleans client): it can resume a run's stream with a continuation token, but not start, poll or cancel runs. Register it with AddDurableAgentsClient to reach the workers.");

    private async Task<bool> IsPendingAsync(RunLocation location, string runId, CancellationToken cancellationToken)
    {
        if (_grains is null)
        {
            return false;
        }

        var run = await GetRunAsync(location, runId, cancellationToken).ConfigureAwait(false);
        return run is null ? throw new DurableRunNotFoundException(runId) : !run.Status.IsFinal();
    }

    private DurableRunExpiredException Expired(string runId, AgentStreamNotFoundException ex) => new(
        runId,
        ex.ExpiredWhileReading || _grains is not null
            ? $"The stream of run '{runId}' has expired: the run is known, but its entries are gone (a run's stream lives REDIS_STREAM_TTL_MINUTES after its last entry), so it cannot be resumed. Its final response is still available: call RunAsync with the same continuation token."
            : $"The stream of run '{runId}' has expired, or the run has not started yet (it waits behind earlier runs of its conversation): the run is known, but its stream is not in Redis. Try again later, or ask a client that reaches the workers (RunAsync with the token returns its final response).",
        ex);

    private static bool IsTransient(Exception ex) => ex is Orleans.Runtime.Messaging.ConnectionFailedException
        or SiloUnavailableException
        or OrleansMessageRejectionException
        or GatewayTooBusyException
        or TimeoutException;
}

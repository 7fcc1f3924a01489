using System.Diagnostics;
using System.Runtime.CompilerServices;
using AgentStreaming.DurableAgents.Diagnostics;
using AgentStreaming.DurableAgents.Recovery;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>
/// The one door to the durable agents for hosts and clients: hands out <see cref="DurableAIAgentProxy"/>s (the agents
/// as Agent Framework <c>AIAgent</c>s), finds runs, reads their response streams, and lists conversations. Callers
/// never touch Redis or the stream format: failures come as this library's exceptions
/// (<see cref="DurableAgentsUnavailableException"/>, <see cref="DurableRunNotFoundException"/>,
/// <see cref="DurableRunExpiredException"/>), entries as <see cref="DurableRunChunk"/>s.
/// </summary>
public sealed class DurableAgentClient
{
    private readonly IGrainFactory? _grains;
    private readonly IAgentStreamReader _streams;
    private readonly RunIndex _runs;
    private readonly ConversationIndex? _conversations;
    private readonly TimeSpan _retryTimeout;

    /// <summary>Creates a client that reaches the workers (through <paramref name="grains"/>) and reads from Redis.</summary>
    internal DurableAgentClient(IGrainFactory grains, IAgentStreamReader streams, RunIndex runs, ConversationIndex? conversations, TimeSpan? retryTimeout = null)
        : this(streams, runs)
    {
        ArgumentNullException.ThrowIfNull(grains);
        _grains = grains;
        _conversations = conversations;
        _retryTimeout = retryTimeout ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>
    /// Creates a client that only reads runs' streams, from Redis alone (no Orleans client, no Worker needed): its
    /// agents resume streams with a continuation token (<c>RunStreamingAsync</c>); starting, polling, cancelling and
    /// reading conversations throw <see cref="InvalidOperationException"/>.
    /// </summary>
    internal DurableAgentClient(IAgentStreamReader streams, RunIndex runs)
    {
        ArgumentNullException.ThrowIfNull(streams);
        ArgumentNullException.ThrowIfNull(runs);
        _streams = streams;
        _runs = runs;
    }

    /// <summary>
    /// Whether the durable store (Redis) is connected right now. No command is sent: a host can answer "try again"
    /// at once while it is down instead of waiting for calls to time out.
    /// </summary>
    public bool IsAvailable => _runs.IsConnected;

    /// <summary>
    /// A token cancelled as soon as the durable store's (Redis's) connection is known lost, and already cancelled while
    /// it is down; read it again once <see cref="IsAvailable"/> is back for the next one. No command is sent. The readers
    /// ride an outage out (up to their reconnect deadline) and go on with no gap; a host that can tell its client to come
    /// back later instead — an SSE response, which the client resumes with <c>Last-Event-ID</c> — stops a read with this
    /// token to tell it at once.
    /// </summary>
    public CancellationToken UnavailableToken => _runs.ConnectionLostToken;

    /// <summary>The durable agent as an Agent Framework <c>AIAgent</c>.</summary>
    /// <param name="name">The agent's name, e.g. <c>TravelPlanner</c>.</param>
    /// <returns>The agent (an unknown name fails at the first run, with the names the workers host).</returns>
    /// <exception cref="ArgumentException">The name is malformed.</exception>
    public DurableAIAgentProxy GetAgent(string name)
    {
        _ = DurableAgentNames.ConversationKey(name, "x");
        return new DurableAIAgentProxy(this, name);
    }

    /// <summary>Finds a run's agent, conversation and owner (<c>HMGET agent-run:{runId}</c>).</summary>
    /// <param name="runId">The run.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>Where the run belongs, or <see langword="null"/> when the id is malformed or no conversation knows the run.</returns>
    /// <exception cref="DurableAgentsUnavailableException">Redis cannot be reached.</exception>
    public async Task<RunLocation?> FindRunAsync(string runId, CancellationToken cancellationToken = default)
    {
        if (!DurableAgentNames.IsValidId(runId))
        {
            return null;
        }

        return await DurableAgentsFailures.TranslateAsync(() => _runs.FindAsync(runId), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Checks whether a run of <paramref name="agentName"/> has a stream to read after <paramref name="after"/>, before
    /// a response is started: an unknown run (or another agent's), a stream that is gone, and a stream that ends at or
    /// before the position are told apart from one that can be read. One <c>HMGET</c> and one pipelined
    /// <c>HGET</c> + <c>XREVRANGE … COUNT 1</c>; a grain call only when the stream is missing.
    /// </summary>
    /// <param name="agentName">The agent the caller addressed.</param>
    /// <param name="runId">The run.</param>
    /// <param name="after">The position the reader has (see <see cref="IsValidCursor"/>), or <see langword="null"/> for the start.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>What was found.</returns>
    /// <exception cref="ArgumentException"><paramref name="after"/> is malformed.</exception>
    /// <exception cref="DurableAgentsUnavailableException">Redis or the workers cannot be reached.</exception>
    public async Task<DurableRunStreamOpening> OpenStreamAsync(string agentName, string runId, string? after, CancellationToken cancellationToken = default)
    {
        var position = string.IsNullOrEmpty(after) ? (StreamCursor?)null : StreamCursor.Parse(after);

        if (!DurableAgentNames.IsValidId(runId))
        {
            return new(DurableRunStreamStatus.Unknown, null);
        }

        var location = await FindRunAsync(runId, cancellationToken).ConfigureAwait(false);
        if (location is { } found && !string.Equals(found.AgentName, agentName, StringComparison.Ordinal))
        {
            return new(DurableRunStreamStatus.Unknown, null);
        }

        var state = await DurableAgentsFailures.TranslateAsync(() => _streams.GetStateAsync(runId, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (!state.Exists)
        {
            if (location is not { } known)
            {
                // Never accepted and no stream: answer at once instead of waiting for a stream that will not come.
                return new(DurableRunStreamStatus.Unknown, null);
            }

            var run = await GetRunAsync(known, runId, cancellationToken).ConfigureAwait(false);
            if (run is null || run.Status.IsFinal())
            {
                return new(DurableRunStreamStatus.Gone, location);
            }
        }

        return position is { } at && state.TerminalAt is { } terminal && terminal <= at
            ? new(DurableRunStreamStatus.Ended, location)
            : new(DurableRunStreamStatus.Readable, location);
    }

    /// <summary>
    /// Reads a run's stream from the start or strictly after <paramref name="cursor"/>, live, until its terminal
    /// entry. A run still queued behind earlier runs of its conversation is waited for.
    /// </summary>
    /// <param name="runId">The run.</param>
    /// <param name="cursor">The <see cref="DurableRunChunk.Cursor"/> of the last entry received, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Stops reading (the run goes on).</param>
    /// <returns>The entries, each exactly once, in order.</returns>
    /// <exception cref="ArgumentException">The run id or cursor is malformed (before Redis is touched).</exception>
    /// <exception cref="DurableRunNotFoundException">No conversation knows the run and it has no stream.</exception>
    /// <exception cref="DurableRunExpiredException">The run's stream has expired.</exception>
    /// <exception cref="DurableAgentsUnavailableException">Redis stayed unreachable past the reader's reconnect deadline.</exception>
    public IAsyncEnumerable<DurableRunChunk> StreamAsync(string runId, string? cursor = null, CancellationToken cancellationToken = default)
        => StreamAsync(runId, location: null, lookUp: true, cursor, cancellationToken);

    /// <summary>
    /// Reads a run's stream as <see cref="StreamAsync(string, string?, CancellationToken)"/> does, for a run whose
    /// location the caller has already found (with <see cref="OpenStreamAsync"/>), or <see langword="null"/> for a
    /// stream the run index does not know (it is then read as it is, without waiting for a queued run).
    /// </summary>
    /// <param name="runId">The run.</param>
    /// <param name="location">Where the run belongs, if known.</param>
    /// <param name="cursor">The last entry's cursor, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Stops reading.</param>
    /// <returns>The entries.</returns>
    public IAsyncEnumerable<DurableRunChunk> StreamAsync(string runId, RunLocation? location, string? cursor = null, CancellationToken cancellationToken = default)
        => StreamAsync(runId, location, lookUp: false, cursor, cancellationToken);

    /// <summary>
    /// Reads what a run's stream holds now: its entries from the first up to the last one written when the call began
    /// (the terminal one once the run has ended), without waiting for more. Nothing for a stream not begun yet.
    /// </summary>
    /// <param name="runId">The run.</param>
    /// <param name="location">Where the run belongs, if known.</param>
    /// <param name="cancellationToken">Stops reading.</param>
    /// <returns>The entries stored so far, in order.</returns>
    /// <exception cref="DurableRunExpiredException">The run's stream expired while it was read.</exception>
    /// <exception cref="DurableAgentsUnavailableException">Redis cannot be reached.</exception>
    public async IAsyncEnumerable<DurableRunChunk> ReadStoredAsync(string runId, RunLocation? location, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var state = await DurableAgentsFailures.TranslateAsync(() => _streams.GetStateAsync(runId, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (state.LastEntry is not { } last)
        {
            yield break;
        }

        await foreach (var chunk in StreamAsync(runId, location, lookUp: false, after: null, cancellationToken).ConfigureAwait(false))
        {
            yield return chunk;
            // An entry past the last one means it was trimmed meanwhile (a reset): either way, what was there is read.
            if (StreamCursor.Parse(chunk.Cursor) >= last)
            {
                yield break;
            }
        }
    }

    /// <summary>Whether <paramref name="cursor"/> is a stream position (such as <c>1734649123456-0</c>) that the read methods accept.</summary>
    /// <param name="cursor">The value a client sent.</param>
    /// <returns><see langword="true"/> when it can be passed as a cursor.</returns>
    public static bool IsValidCursor(string? cursor) => StreamCursor.TryParse(cursor, out _);

    /// <summary>Checks a cursor as the read methods do.</summary>
    /// <param name="cursor">The value a client sent.</param>
    /// <exception cref="ArgumentException">It is not a stream position; the message says what one looks like.</exception>
    public static void ValidateCursor(string cursor) => _ = StreamCursor.Parse(cursor);

    /// <summary>
    /// The most recently active conversations of every agent, newest first, with their turns and last run: one
    /// <c>ZRANGE … REV</c>, then one grain call per conversation (eight at a time).
    /// </summary>
    /// <param name="take">How many at most (1 or more).</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The conversations.</returns>
    /// <exception cref="DurableAgentsUnavailableException">Redis or the workers cannot be reached.</exception>
    public Task<IReadOnlyList<DurableConversationSummary>> ListConversationsAsync(int take, CancellationToken cancellationToken = default)
        => ListConversationsAsync(take, owner: null, cancellationToken);

    /// <summary>
    /// The most recently active conversations of one owner (the principal that started them), newest first, or of every
    /// owner when <paramref name="owner"/> is <see langword="null"/>: one <c>ZRANGE … REV</c> of the owner's index,
    /// then one grain call per conversation (eight at a time).
    /// </summary>
    /// <param name="take">How many at most (1 or more).</param>
    /// <param name="owner">The owner whose conversations to list, or <see langword="null"/> for all.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The conversations.</returns>
    /// <exception cref="DurableAgentsUnavailableException">Redis or the workers cannot be reached.</exception>
    public async Task<IReadOnlyList<DurableConversationSummary>> ListConversationsAsync(int take, string? owner, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(take, 1);
        var index = _conversations ?? throw new InvalidOperationException("This DurableAgentClient was registered without the conversation index: register it with AddDurableAgents or AddDurableAgentsClient.");
        var entries = await DurableAgentsFailures.TranslateAsync(() => index.ListAsync(take, owner), cancellationToken).ConfigureAwait(false);

        // A few grains at a time: each is a call into the cluster.
        using var gate = new SemaphoreSlim(8);
        return await Task.WhenAll(entries.Select(async entry =>
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var conversation = await CallAsync(() => Conversation(entry.AgentName, entry.ConversationId).GetConversationAsync(), cancellationToken).ConfigureAwait(false);
                return DurableConversationSummary.From(entry.AgentName, entry.ConversationId, entry.LastActivity, conversation);
            }
            finally
            {
                gate.Release();
            }
        })).ConfigureAwait(false);
    }

    internal IAgentConversationGrain Conversation(string agentName, string conversationId)
        => Grains.GetGrain<IAgentConversationGrain>(DurableAgentNames.ConversationKey(agentName, conversationId));

    internal async Task<RunHandle> StartRunAsync(string agentName, string conversationId, string message, string? runId, bool foreground, string? owner, CancellationToken cancellationToken)
    {
        var grain = Conversation(agentName, conversationId);
        using var activity = DurableAgentsDiagnostics.ActivitySource.StartActivity($"run_agent {agentName}", ActivityKind.Client);
        activity?.SetTag(DurableAgentsDiagnostics.Tags.AgentName, agentName);
        activity?.SetTag(DurableAgentsDiagnostics.Tags.ConversationId, conversationId);
        // A run id chosen here makes retries after a lost answer idempotent: the worker returns the same run.
        var request = new RunRequest(message, runId ?? DurableAgentNames.NewRunId(), Activity.Current?.Id, foreground, owner);
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
    internal IAsyncEnumerable<DurableRunChunk> ReadRunAsync(RunLocation location, string runId, string? after, CancellationToken cancellationToken)
        => StreamAsync(runId, location, lookUp: false, after, cancellationToken);

    /// <summary>
    /// Calls a grain, retrying while no worker can take the call (connection refused, silo gone, gateway list
    /// stale, placement cancelled inside Orleans) until the retry deadline; then fails with a message saying what to do.
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
            catch (Exception ex) when (DurableAgentsFailures.IsStoreUnavailable(ex))
            {
                throw DurableAgentsFailures.Unavailable(ex);
            }
            catch (Exception ex) when (DurableAgentsFailures.IsWorkerUnreachable(ex) || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // A cancellation the caller did not ask for comes from inside Orleans: the grain's placement gave up
                // when the directory partition that holds its address left with a silo (killed or frozen).
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

    /// <summary>The one stream source: Streaming.Core's reader, with its failures in this library's terms, waiting for a queued run.</summary>
    private async IAsyncEnumerable<DurableRunChunk> StreamAsync(string runId, RunLocation? location, bool lookUp, string? after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var resume = string.IsNullOrEmpty(after) ? null : await StartResumeAsync(runId, location, after).ConfigureAwait(false);
        var delivered = 0;
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
                        if (lookUp)
                        {
                            location = await FindRunAsync(runId, cancellationToken).ConfigureAwait(false) ?? throw new DurableRunNotFoundException(runId);
                            lookUp = false;
                        }

                        if (!ex.ExpiredWhileReading && location is { } known && await IsPendingAsync(known, runId, cancellationToken).ConfigureAwait(false))
                        {
                            // Queued behind earlier runs of its conversation: its stream starts when it does.
                            break;
                        }

                        throw Expired(runId, ex);
                    }
                    catch (AgentStreamUnavailableException ex)
                    {
                        throw new DurableAgentsUnavailableException(ex.Message, DurableAgentsUnavailableCause.Redis, ex);
                    }

                    if (!more)
                    {
                        yield break;
                    }

                    var chunk = DurableRunChunk.From(entries.Current);
                    cursor = chunk.Cursor;
                    resume?.SetTag(DurableAgentsDiagnostics.Tags.EntriesDelivered, ++delivered);
                    yield return chunk;
                }
            }
            finally
            {
                await entries.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Starts the span of a reader's resume (<see cref="DurableAgentsDiagnostics.ResumeActivityName"/>) under the caller's
    /// span, linked to the run's trace (one <c>HGET</c> of the run index, made only when the span is listened to). A run
    /// whose trace is unknown (none recorded, Redis down) gets the span without the link.
    /// </summary>
    private async Task<Activity?> StartResumeAsync(string runId, RunLocation? location, string cursor)
    {
        if (!DurableAgentsDiagnostics.ActivitySource.HasListeners())
        {
            return null;
        }

        ActivityLink[]? links = null;
        if (_runs.IsConnected && DurableAgentNames.IsValidId(runId))
        {
            try
            {
                if (await _runs.FindTraceAsync(runId).ConfigureAwait(false) is { } traceParent && ActivityContext.TryParse(traceParent, null, out var run))
                {
                    links = [new ActivityLink(run)];
                }
            }
            catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
            {
                // The link is a convenience: the read itself reports Redis being away.
            }
        }

        var activity = DurableAgentsDiagnostics.ActivitySource.StartActivity(DurableAgentsDiagnostics.ResumeActivityName, ActivityKind.Consumer, parentContext: default, tags: null, links: links);
        activity?.SetTag(DurableAgentsDiagnostics.Tags.RunId, runId);
        activity?.SetTag(DurableAgentsDiagnostics.Tags.Cursor, cursor);
        if (activity is not null && location is { } at)
        {
            // Named like the run's own spans (run_agent TravelPlanner, run_attempt TravelPlanner) when the agent is known.
            activity.DisplayName = $"{DurableAgentsDiagnostics.ResumeActivityName} {at.AgentName}";
            activity.SetTag(DurableAgentsDiagnostics.Tags.AgentName, at.AgentName);
            activity.SetTag(DurableAgentsDiagnostics.Tags.ConversationId, at.ConversationId);
        }

        return activity;
    }

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
}

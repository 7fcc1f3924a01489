using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>
/// A durable agent hosted by the workers, as an Agent Framework <see cref="AIAgent"/>: every run is durable (it is
/// persisted before it is answered, survives worker crashes, and streams to Redis), and background responses with
/// continuation tokens work as the framework documents them.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>RunAsync</c> starts a run and waits for its end (the wait mode). With
/// <see cref="AgentRunOptions.AllowBackgroundResponses"/> it returns at once with a
/// <see cref="AgentResponse.ContinuationToken"/> naming the run; <c>RunAsync</c> with that token in
/// <see cref="AgentRunOptions.ContinuationToken"/> returns the final response once the run has ended, else a response
/// with no messages that carries the token again.</item>
/// <item><c>RunStreamingAsync</c> streams the run's Redis Stream, one update per entry. With background responses
/// allowed (or a token given) every update carries a continuation token (run id + entry id) except the last;
/// <c>RunStreamingAsync</c> with one resumes strictly after that entry, in any process.</item>
/// <item>Cancelling the <see cref="CancellationToken"/> of a call stops that call (the local read or wait) only: the
/// run goes on in the workers. To stop the run itself, call <see cref="CancelAsync"/>.</item>
/// </list>
/// Errors: a malformed token is an <see cref="ArgumentException"/>; a run no conversation knows,
/// <see cref="DurableRunNotFoundException"/>; a run whose stream has expired (streaming only),
/// <see cref="DurableRunExpiredException"/>; a session of another agent or type, <see cref="InvalidOperationException"/>
/// (as the framework's own agents do).
/// </remarks>
public sealed class DurableAIAgentProxy : AIAgent
{
    private const string TokenParameter = "options";
    private readonly DurableAgentClient _client;
    private readonly string _name;

    internal DurableAIAgentProxy(DurableAgentClient client, string name)
    {
        _client = client;
        _name = name;
    }

    /// <summary>The agent's name: the name the workers host it under, e.g. <c>TravelPlanner</c>.</summary>
    public override string Name => _name;

    /// <inheritdoc />
    /// <remarks>The agent's name: every proxy of one durable agent, in any process, has the same id.</remarks>
    protected override string? IdCore => _name;

    /// <summary>Starts a new conversation (an unguessable id; nothing is stored until its first run).</summary>
    /// <returns>The session.</returns>
    public DurableAgentSession NewSession() => new(Name, DurableAgentNames.NewConversationId());

    /// <summary>Continues an existing conversation.</summary>
    /// <param name="conversationId">Its id.</param>
    /// <returns>The session.</returns>
    /// <exception cref="ArgumentException">The id is malformed.</exception>
    public DurableAgentSession GetSession(string conversationId)
    {
        _ = DurableAgentNames.ConversationKey(Name, conversationId);
        return new DurableAgentSession(Name, conversationId);
    }

    /// <summary>
    /// Starts a run and answers as soon as the workers have persisted it (fire-and-forget), with the run's id, stream key
    /// and status. The durable-specific form of <c>RunAsync</c> with background responses.
    /// </summary>
    /// <param name="message">The user's message.</param>
    /// <param name="session">The conversation (a session of this agent).</param>
    /// <param name="runId">A run id of the caller's (1–128 letters, digits, '-', '_' or '.'): a retry with the same id returns the run already accepted. Default: a new unguessable id.</param>
    /// <param name="cancellationToken">Stops waiting for the answer (a run already accepted goes on).</param>
    /// <returns>The accepted run.</returns>
    /// <exception cref="ArgumentException">Unknown agent, empty or oversized message, malformed run id.</exception>
    /// <exception cref="InvalidOperationException">The session belongs to another agent.</exception>
    /// <exception cref="DurableAgentsUnavailableException">No worker answered within the retry deadline.</exception>
    public Task<RunHandle> StartRunAsync(string message, AgentSession session, string? runId = null, CancellationToken cancellationToken = default)
        => StartRunAsync(message, session, runId, foreground: false, cancellationToken);

    /// <summary>
    /// Starts a run as <see cref="StartRunAsync(string, AgentSession, string?, CancellationToken)"/> does, marked as a
    /// foreground run when the caller will cancel it if it leaves (<see cref="RunInfo.Foreground"/>).
    /// </summary>
    /// <param name="message">The user's message.</param>
    /// <param name="session">The conversation (a session of this agent).</param>
    /// <param name="runId">A run id of the caller's, or <see langword="null"/> for a new one.</param>
    /// <param name="foreground">Whether the caller cancels it if it leaves (kept with the run).</param>
    /// <param name="cancellationToken">Stops waiting for the answer (a run already accepted goes on).</param>
    /// <returns>The accepted run.</returns>
    /// <exception cref="ArgumentException">Unknown agent, empty or oversized message, malformed run id.</exception>
    /// <exception cref="InvalidOperationException">The session belongs to another agent.</exception>
    /// <exception cref="DurableAgentsUnavailableException">No worker answered within the retry deadline.</exception>
    public Task<RunHandle> StartRunAsync(string message, AgentSession session, string? runId, bool foreground, CancellationToken cancellationToken = default)
        => StartRunAsync(message, session, runId, foreground, owner: null, cancellationToken);

    /// <summary>
    /// Starts a run as <see cref="StartRunAsync(string, AgentSession, string?, bool, CancellationToken)"/> does, on behalf
    /// of <paramref name="owner"/>: a new conversation belongs to it (recorded with the conversation and its runs, see
    /// <see cref="ConversationSnapshot.Owner"/> and <see cref="RunLocation.Owner"/>); an existing one keeps its owner.
    /// Checking that the caller may use an existing conversation is the host's part.
    /// </summary>
    /// <param name="message">The user's message.</param>
    /// <param name="session">The conversation (a session of this agent).</param>
    /// <param name="runId">A run id of the caller's, or <see langword="null"/>.</param>
    /// <param name="foreground">Whether the caller cancels it if it leaves (kept with the run).</param>
    /// <param name="owner">The principal (a user or service name), or <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Stops waiting for the answer.</param>
    /// <returns>The accepted run.</returns>
    public Task<RunHandle> StartRunAsync(string message, AgentSession session, string? runId, bool foreground, string? owner, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        return _client.StartRunAsync(Name, Own(session).ConversationId, message, runId, foreground, owner, cancellationToken);
    }

    /// <summary>
    /// Cancels a run of the conversation durably: a queued run ends without running, a running one stops promptly
    /// (its partial answer is kept, marked cancelled), and its stream ends with <c>cancelled</c>. A finished run is
    /// left as it is. This is the only way to stop a run: cancelling a call's <see cref="CancellationToken"/> stops
    /// the call, not the run.
    /// </summary>
    /// <param name="session">The conversation.</param>
    /// <param name="runId">The run (the <see cref="AgentResponse.ResponseId"/> of its responses and updates).</param>
    /// <returns>The run after the request, or <see langword="null"/> when the conversation has no such run.</returns>
    public Task<RunInfo?> CancelAsync(AgentSession session, string runId)
    {
        var grain = _client.Conversation(Name, Own(session).ConversationId);
        return _client.CallAsync(() => grain.CancelRunAsync(runId));
    }

    /// <summary>The conversation's history and runs, as the workers hold them.</summary>
    /// <param name="session">The conversation.</param>
    /// <returns>The snapshot (empty for a conversation that never ran).</returns>
    public Task<ConversationSnapshot> GetConversationAsync(AgentSession session)
    {
        var grain = _client.Conversation(Name, Own(session).ConversationId);
        return _client.CallAsync(grain.GetConversationAsync);
    }

    /// <summary>One run of the conversation: its status, attempts, response text or error.</summary>
    /// <param name="session">The conversation.</param>
    /// <param name="runId">The run.</param>
    /// <returns>The run, or <see langword="null"/>.</returns>
    public Task<RunInfo?> GetRunAsync(AgentSession session, string runId)
    {
        var grain = _client.Conversation(Name, Own(session).ConversationId);
        return _client.CallAsync(() => grain.GetRunAsync(runId));
    }

    /// <inheritdoc />
    public override object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is null && serviceType == typeof(AIAgentMetadata) ? new AIAgentMetadata("agent-streaming.durable")
            : serviceKey is null && serviceType == typeof(DurableAgentClient) ? _client
            : base.GetService(serviceType, serviceKey);
    }

    /// <inheritdoc />
    protected override ValueTask<AgentSession> CreateSessionCoreAsync(CancellationToken cancellationToken = default)
        => new(NewSession());

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The session belongs to another agent or agent type.</exception>
    protected override ValueTask<JsonElement> SerializeSessionCoreAsync(AgentSession session, JsonSerializerOptions? jsonSerializerOptions = null, CancellationToken cancellationToken = default)
        => new(Own(session).Serialize());

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The state is not a serialized session of this agent.</exception>
    protected override ValueTask<AgentSession> DeserializeSessionCoreAsync(JsonElement serializedState, JsonSerializerOptions? jsonSerializerOptions = null, CancellationToken cancellationToken = default)
        => new(DurableAgentSession.Deserialize(Name, serializedState));

    /// <inheritdoc />
    protected override async Task<AgentResponse> RunCoreAsync(IEnumerable<ChatMessage> messages, AgentSession? session, AgentRunOptions? options, CancellationToken cancellationToken = default)
    {
        if (options?.ContinuationToken is { } token)
        {
            var (durable, location) = await ResolveAsync(token, messages, session).ConfigureAwait(false);
            var run = await _client.GetRunAsync(location, durable.RunId, cancellationToken).ConfigureAwait(false)
                ?? throw new DurableRunNotFoundException(durable.RunId);
            return run.Status.IsFinal() ? DurableRunUpdates.FinalResponse(this, run) : DurableRunUpdates.PendingResponse(this, durable);
        }

        var (handle, started) = await StartAsync(messages, session, options, cancellationToken).ConfigureAwait(false);
        if (options?.AllowBackgroundResponses == true)
        {
            return DurableRunUpdates.PendingResponse(this, DurableAgentContinuationToken.ForRun(handle.RunId));
        }

        DurableRunExpiredException? expired = null;
        try
        {
            await foreach (var _ in _client.ReadRunAsync(started, handle.RunId, after: null, cancellationToken).ConfigureAwait(false))
            {
                // The terminal entry ends the read; the answer is then taken from the conversation's record.
            }
        }
        catch (DurableRunExpiredException ex)
        {
            // The stream went while the run ran (the run then fails): its record says how it ended, once it has.
            expired = ex;
        }

        var final = await _client.GetRunAsync(started, handle.RunId, cancellationToken).ConfigureAwait(false) ?? throw new DurableRunNotFoundException(handle.RunId);
        if (!final.Status.IsFinal() && expired is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(expired);
        }

        return DurableRunUpdates.FinalResponse(this, final);
    }

    /// <inheritdoc />
    protected override async IAsyncEnumerable<AgentResponseUpdate> RunCoreStreamingAsync(IEnumerable<ChatMessage> messages, AgentSession? session, AgentRunOptions? options, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string runId;
        string? after;
        RunLocation location;
        if (options?.ContinuationToken is { } token)
        {
            var (durable, found) = await ResolveAsync(token, messages, session).ConfigureAwait(false);
            (runId, after, location) = (durable.RunId, durable.AfterEntryId, found);
        }
        else
        {
            var (handle, started) = await StartAsync(messages, session, options, cancellationToken).ConfigureAwait(false);
            (runId, after, location) = (handle.RunId, null, started);
        }

        // The framework's contract: tokens when background responses are allowed; a caller resuming with one wants more.
        var withTokens = options?.AllowBackgroundResponses == true || options?.ContinuationToken is not null;
        await foreach (var chunk in _client.ReadRunAsync(location, runId, after, cancellationToken).ConfigureAwait(false))
        {
            yield return DurableRunUpdates.Update(this, runId, chunk, withTokens);
        }
    }

    private async Task<(RunHandle Handle, RunLocation Location)> StartAsync(IEnumerable<ChatMessage> messages, AgentSession? session, AgentRunOptions? options, CancellationToken cancellationToken)
    {
        if (options?.ResponseFormat is ChatResponseFormatJson)
        {
            throw new NotSupportedException("A durable agent answers in the format its worker-side agent is built for; a JSON response format cannot be requested per run.");
        }

        var text = string.Join('\n', messages.Select(m => m.Text).Where(t => t.Length > 0));
        if (text.Length == 0)
        {
            throw new ArgumentException("Pass a message to start a run, or a continuation token in options.ContinuationToken to poll or resume one.", nameof(messages));
        }

        var conversation = session is null ? NewSession() : Own(session);
        var durableOptions = options as DurableAgentRunOptions;
        var handle = await _client.StartRunAsync(Name, conversation.ConversationId, text, durableOptions?.RunId, foreground: false, durableOptions?.Owner, cancellationToken).ConfigureAwait(false);
        return (handle, new RunLocation(Name, conversation.ConversationId));
    }

    /// <summary>Reads a token and finds its run: in the run index, of this agent, of the session's conversation if one is given.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2208:Instantiate argument exceptions correctly", Justification = "Names the public RunAsync/RunStreamingAsync parameter the token came in.")]
    private async Task<(DurableAgentContinuationToken Token, RunLocation Location)> ResolveAsync(ResponseContinuationToken token, IEnumerable<ChatMessage> messages, AgentSession? session)
    {
        var durable = DurableAgentContinuationToken.FromToken(token, TokenParameter);
        if (messages.Any())
        {
            throw new InvalidOperationException("Input messages are not allowed when continuing a background response using a continuation token.");
        }

        var conversation = session is null ? null : Own(session);
        var location = await _client.FindRunAsync(durable.RunId).ConfigureAwait(false) ?? throw new DurableRunNotFoundException(durable.RunId);
        if (!string.Equals(location.AgentName, Name, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The continuation token names run '{durable.RunId}' of agent '{location.AgentName}', not of '{Name}'. Continue it with that agent.", TokenParameter);
        }

        if (conversation is not null && !string.Equals(location.ConversationId, conversation.ConversationId, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The continuation token names run '{durable.RunId}' of conversation '{location.ConversationId}', not of the session's conversation '{conversation.ConversationId}'. Pass that conversation's session, or none.", TokenParameter);
        }

        return (durable, location);
    }

    private DurableAgentSession Own(AgentSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session is not DurableAgentSession durable)
        {
            throw new InvalidOperationException($"The provided session type '{session.GetType().Name}' is not compatible with this agent. Only sessions of type '{nameof(DurableAgentSession)}' made by this agent can be used.");
        }

        if (!string.Equals(durable.AgentName, Name, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The session is a conversation with agent '{durable.AgentName}', not with '{Name}'. Use a session of this agent (NewSession, GetSession or CreateSessionAsync).");
        }

        return durable;
    }
}

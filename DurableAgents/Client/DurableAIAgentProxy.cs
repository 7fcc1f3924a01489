namespace AgentStreaming.DurableAgents.Client;

/// <summary>A client-side handle on an agent hosted by the workers, shaped like the original sample's.</summary>
public sealed class DurableAIAgentProxy
{
    private readonly DurableAgentClient _client;

    internal DurableAIAgentProxy(DurableAgentClient client, string name)
    {
        _client = client;
        Name = name;
    }

    /// <summary>The agent's name.</summary>
    public string Name { get; }

    /// <summary>Starts a new conversation (an unguessable id; nothing is stored until the first run).</summary>
    /// <returns>The session.</returns>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "Instance API of the proxy, as the original sample's.")]
    public DurableAgentSession NewSession() => new(DurableAgentNames.NewConversationId());

    /// <summary>Continues an existing conversation.</summary>
    /// <param name="conversationId">Its id.</param>
    /// <returns>The session.</returns>
    /// <exception cref="ArgumentException">The id is malformed.</exception>
    public DurableAgentSession GetSession(string conversationId)
    {
        _ = DurableAgentNames.ConversationKey(Name, conversationId);
        return new DurableAgentSession(conversationId);
    }

    /// <summary>Runs the agent on a message of the conversation.</summary>
    /// <param name="message">The user's message.</param>
    /// <param name="session">The conversation.</param>
    /// <param name="options">Fire-and-forget (default) or wait; optional run id.</param>
    /// <param name="cancellationToken">Stops waiting (the run itself goes on; cancel it with <see cref="CancelAsync"/>).</param>
    /// <returns>The run id and stream key at once, or also the finished run when waiting.</returns>
    /// <exception cref="ArgumentException">Unknown agent, empty or oversized message.</exception>
    public Task<DurableRunResult> RunAsync(string message, DurableAgentSession session, DurableRunOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        return _client.RunAsync(Name, session, message, options ?? new DurableRunOptions(), cancellationToken);
    }

    /// <summary>Cancels a run of the conversation.</summary>
    /// <param name="session">The conversation.</param>
    /// <param name="runId">The run.</param>
    /// <returns>The run after the request, or <see langword="null"/> when the conversation has no such run.</returns>
    public Task<RunInfo?> CancelAsync(DurableAgentSession session, string runId)
    {
        ArgumentNullException.ThrowIfNull(session);
        var grain = _client.Conversation(Name, session.ConversationId);
        return _client.CallAsync(() => grain.CancelRunAsync(runId));
    }

    /// <summary>The conversation's history and runs.</summary>
    /// <param name="session">The conversation.</param>
    /// <returns>The snapshot (empty for a conversation that never ran).</returns>
    public Task<ConversationSnapshot> GetConversationAsync(DurableAgentSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        var grain = _client.Conversation(Name, session.ConversationId);
        return _client.CallAsync(grain.GetConversationAsync);
    }

    /// <summary>One run of the conversation.</summary>
    /// <param name="session">The conversation.</param>
    /// <param name="runId">The run.</param>
    /// <returns>The run, or <see langword="null"/>.</returns>
    public Task<RunInfo?> GetRunAsync(DurableAgentSession session, string runId)
    {
        ArgumentNullException.ThrowIfNull(session);
        var grain = _client.Conversation(Name, session.ConversationId);
        return _client.CallAsync(() => grain.GetRunAsync(runId));
    }
}

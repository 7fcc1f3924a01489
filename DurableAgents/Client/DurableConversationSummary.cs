namespace AgentStreaming.DurableAgents.Client;

/// <summary>One conversation in <see cref="DurableAgentClient.ListConversationsAsync(int, string?, CancellationToken)"/>.</summary>
/// <param name="AgentName">The agent.</param>
/// <param name="ConversationId">The conversation.</param>
/// <param name="LastActivity">When a run was last accepted or finished.</param>
/// <param name="Turns">The user messages.</param>
/// <param name="Runs">The runs, finished or not.</param>
/// <param name="LastRunStatus">The last run's status, or <see langword="null"/> when it has none.</param>
/// <param name="FirstMessage">The first user message, clipped to 120 characters.</param>
/// <param name="LastRunId">The last run's id, or <see langword="null"/> when it has none.</param>
/// <param name="HostedBy">The worker process hosting the conversation now (<c>machine/pid</c>), which runs its runs.</param>
public sealed record DurableConversationSummary(
    string AgentName,
    string ConversationId,
    DateTimeOffset LastActivity,
    int Turns,
    int Runs,
    RunStatus? LastRunStatus,
    string? FirstMessage,
    string? LastRunId = null,
    string? HostedBy = null)
{
    /// <summary>The principal that started the conversation, or <see langword="null"/> when it was started without one.</summary>
    public string? Owner { get; init; }

    private const int FirstMessageLength = 120;

    internal static DurableConversationSummary From(string agentName, string conversationId, DateTimeOffset lastActivity, ConversationSnapshot conversation)
    {
        var first = conversation.History.FirstOrDefault(m => m.Role == "user")?.Text;
        return new(
            agentName,
            conversationId,
            lastActivity,
            conversation.History.Count(m => m.Role == "user"),
            conversation.Runs.Count,
            conversation.Runs.Count > 0 ? conversation.Runs[^1].Status : null,
            first is null || first.Length <= FirstMessageLength ? first : first[..FirstMessageLength] + "…",
            conversation.Runs.Count > 0 ? conversation.Runs[^1].RunId : null,
            conversation.HostedBy)
        {
            Owner = conversation.Owner,
        };
    }
}

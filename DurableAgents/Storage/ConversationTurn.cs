namespace AgentStreaming.DurableAgents.Storage;

/// <summary>
/// One finished run of a conversation as the history log stores it: the run's final record and the messages it added
/// (its question and answer; only the question of a failed run; none for a run cancelled before it started).
/// </summary>
/// <param name="Run">The run as it ended, or <see langword="null"/> for messages kept from before runs were logged.</param>
/// <param name="Messages">The messages the run added, oldest first.</param>
public sealed record ConversationTurn(RunInfo? Run, IReadOnlyList<ConversationMessage> Messages)
{
    /// <summary>The run id the turn belongs to.</summary>
    public string? RunId => Run?.RunId ?? (Messages.Count > 0 ? Messages[0].RunId : null);
}

namespace AgentStreaming.DurableAgents.Grains;

/// <summary>
/// The persisted state of a conversation grain (System.Text.Json in Redis; no type names, so it survives renames): the
/// runs in flight and the time of the last activity. Finished runs and their messages live in the conversation's
/// history log (<see cref="Storage.ConversationHistoryStore"/>), so this state stays small however long the
/// conversation gets.
/// </summary>
public sealed class ConversationState
{
    /// <summary>The runs that have not been recorded as ended yet, in order of acceptance.</summary>
    public List<RunInfo> Runs { get; set; } = [];

    /// <summary>When the conversation was last used.</summary>
    public DateTimeOffset? LastActivity { get; set; }

    /// <summary>The principal that started the conversation (its first run's owner); its runs inherit it.</summary>
    public string? Owner { get; set; }
}

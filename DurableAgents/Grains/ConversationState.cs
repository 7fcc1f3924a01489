namespace AgentStreaming.DurableAgents.Grains;

/// <summary>The persisted state of a conversation grain (System.Text.Json in Redis; no type names, so it survives renames).</summary>
public sealed class ConversationState
{
    /// <summary>The messages, oldest first.</summary>
    public List<ConversationMessage> History { get; set; } = [];

    /// <summary>The runs, in order of acceptance.</summary>
    public List<RunInfo> Runs { get; set; } = [];

    /// <summary>When the conversation was last used.</summary>
    public DateTimeOffset? LastActivity { get; set; }
}

using Microsoft.Agents.AI;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>Run options of a durable agent: the framework's options plus a run id of the caller's.</summary>
/// <remarks>
/// <see cref="AgentRunOptions.AllowBackgroundResponses"/> and <see cref="AgentRunOptions.ContinuationToken"/> work
/// as the framework documents them; plain <see cref="AgentRunOptions"/> work too.
/// </remarks>
public sealed class DurableAgentRunOptions : AgentRunOptions
{
    /// <summary>Creates empty options.</summary>
    public DurableAgentRunOptions()
    {
    }

    private DurableAgentRunOptions(DurableAgentRunOptions options)
        : base(options)
    {
        RunId = options.RunId;
        Owner = options.Owner;
    }

    /// <summary>
    /// The run id to start the run with, chosen by the caller (1–128 letters, digits, '-', '_' or '.'), so a call
    /// retried after a lost answer returns the run already accepted instead of starting a second one. Default: a new
    /// unguessable id.
    /// </summary>
    public string? RunId { get; set; }

    /// <summary>
    /// The principal the run is started for: a new conversation belongs to it (see <see cref="ConversationSnapshot.Owner"/>).
    /// Default: none.
    /// </summary>
    public string? Owner { get; set; }

    /// <inheritdoc />
    public override AgentRunOptions Clone() => new DurableAgentRunOptions(this);
}

using Microsoft.Agents.AI;

namespace AgentStreaming.DurableAgents.Options;

/// <summary>Options of the durable agent runtime (silo side). Bound from <c>DurableAgents</c>.</summary>
public sealed class DurableAgentsOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "DurableAgents";

    private readonly Dictionary<string, Func<IServiceProvider, AIAgent>> _agents = new(StringComparer.Ordinal);

    /// <summary>Attempts a run gets before it ends with an error (attempts after the first follow crashes). Default 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>How long a conversation lives after its last activity. Default 14 days.</summary>
    public TimeSpan ConversationTtl { get; set; } = TimeSpan.FromDays(14);

    /// <summary>The longest accepted message, in characters. Default 32,768.</summary>
    public int MaxMessageLength { get; set; } = 32_768;

    /// <summary>
    /// How many recorded messages of the conversation (questions and answers) are sent to the model with a new
    /// question, most recent first; each answer's tool calls and results come with it. Default 40; 0 sends all.
    /// </summary>
    public int HistoryWindow { get; set; } = 40;

    /// <summary>Runs listed in a conversation snapshot, most recent (older ones stay in the history log). Default 200.</summary>
    public int MaxRunsKept { get; set; } = 200;

    /// <summary>How long a worker's claim on a conversation with unfinished runs lasts without renewal. Default 6 s.</summary>
    public TimeSpan RunLeaseDuration { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>How often the worker executing runs renews its claim. Default 2 s.</summary>
    public TimeSpan RunLeaseRenewInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often each worker looks for conversations whose worker died. Default 1 s.</summary>
    public TimeSpan RecoveryScanInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The agents this worker can run, by name.</summary>
    public IReadOnlyDictionary<string, Func<IServiceProvider, AIAgent>> Agents => _agents;

    /// <summary>Registers an agent.</summary>
    /// <param name="name">Its name (letters, digits, '-', '_', '.').</param>
    /// <param name="factory">Creates the agent for a run.</param>
    /// <returns>These options.</returns>
    public DurableAgentsOptions AddAgent(string name, Func<IServiceProvider, AIAgent> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _ = DurableAgentNames.ConversationKey(name, "x");
        _agents[name] = factory;
        return this;
    }
}

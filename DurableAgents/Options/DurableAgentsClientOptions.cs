namespace AgentStreaming.DurableAgents.Options;

/// <summary>Options of the client side. Bound from <c>DurableAgents:Client</c>.</summary>
public sealed class DurableAgentsClientOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "DurableAgents:Client";

    /// <summary>How long the client tries to reach a worker before it fails with a clear error. Default 30 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a call is retried while no worker can take it (e.g. the only worker is restarting). Default 30 s.</summary>
    public TimeSpan CallRetryTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

namespace AgentStreaming.Worker.Pages;

/// <summary>Settings of the agents page (<c>AgentPages</c> section).</summary>
public sealed class AgentPagesOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "AgentPages";

    /// <summary>
    /// The Aspire dashboard's address, for links from each run to its trace (<c>{DashboardUrl}/traces/detail/{traceId}</c>).
    /// The AppHost sets it; without it the page shows trace ids without links.
    /// </summary>
    public string? DashboardUrl { get; set; }

    /// <summary>How many conversations the page lists at most (default 50).</summary>
    public int MaxConversations { get; set; } = 50;
}

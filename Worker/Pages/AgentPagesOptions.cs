using Microsoft.Extensions.Options;

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

/// <summary>Validates <see cref="AgentPagesOptions"/> when the host starts.</summary>
internal sealed class AgentPagesOptionsValidator : IValidateOptions<AgentPagesOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentPagesOptions options)
    {
        var failures = new List<string>();
        if (options.MaxConversations is <= 0 or > 1000)
        {
            failures.Add("AgentPages:MaxConversations must be between 1 and 1000.");
        }

        if (options.DashboardUrl is not null && !Uri.TryCreate(options.DashboardUrl, UriKind.Absolute, out _))
        {
            failures.Add("AgentPages:DashboardUrl must be an absolute URL.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Worker.Api;
using AgentStreaming.Worker.Pages;
using AgentStreaming.Worker.Security;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Builder;

/// <summary>
/// The agents page (<c>/agents/</c>): the conversations, a conversation's history and runs, and a live view of a run's
/// stream. The page itself is static (<c>wwwroot/agents</c>); it reads the agent API (<c>/agents/{agent}/…</c>, whose
/// SSE endpoint streams through Streaming.Core) and the one endpoint mapped here, the conversation list.
/// </summary>
public static class AgentPagesEndpoints
{
    /// <summary>Binds <see cref="AgentPagesOptions"/> from the <c>AgentPages</c> section, validated at start.</summary>
    /// <param name="services">The services.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddAgentPages(this IServiceCollection services)
    {
        services.AddOptions<AgentPagesOptions>().BindConfiguration(AgentPagesOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentPagesOptions>, AgentPagesOptionsValidator>());
        return services;
    }

    /// <summary>Maps <c>GET /agents/conversations</c> (behind the API key when one is set, like every data route).</summary>
    /// <param name="app">The application.</param>
    /// <returns>The endpoint.</returns>
    public static RouteHandlerBuilder MapAgentPages(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // The API's guard: while Redis is disconnected, 503 at once instead of after the storage timeouts.
        return app.MapGet("/agents/conversations", ListConversationsAsync)
            .AddEndpointFilter<AgentApiGuard>()
            .WithTags("Agents page")
            .WithName("ListConversations")
            .WithSummary("The most recently active conversations, with their turns and last run, and the dashboard address for trace links.")
            .Produces<ConversationListView>()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task<IResult> ListConversationsAsync(
        HttpContext context, DurableAgentClient client, IOptions<AgentPagesOptions> options, int? take, CancellationToken cancellationToken)
    {
        var limit = Math.Clamp(take ?? options.Value.MaxConversations, 1, options.Value.MaxConversations);
        // A principal sees its own conversations; an admin sees everyone's.
        var admin = context.IsAdmin();
        var conversations = await client.ListConversationsAsync(limit, admin ? null : context.Owner(), cancellationToken).ConfigureAwait(false);
        var rows = conversations.Select(c => new ConversationSummaryView(
            c.AgentName,
            c.ConversationId,
            c.LastActivity,
            c.Turns,
            c.Runs,
            c.LastRunStatus is { } status ? RunView.StatusName(status) : null,
            c.FirstMessage,
            c.Owner,
            c.LastRunId,
            c.HostedBy)).ToList();
        return Results.Ok(new ConversationListView(options.Value.DashboardUrl?.TrimEnd('/'), rows) { Principal = context.Owner(), Admin = admin });
    }
}

/// <summary>The conversation list.</summary>
/// <param name="DashboardUrl">The Aspire dashboard, for trace links (<see langword="null"/> when unknown).</param>
/// <param name="Conversations">Most recently active first.</param>
public sealed record ConversationListView(string? DashboardUrl, IReadOnlyList<ConversationSummaryView> Conversations)
{
    /// <summary>Who is asking: the conversations are this principal's own, or everyone's when <see cref="Admin"/>.</summary>
    public string Principal { get; init; } = string.Empty;

    /// <summary>Whether the caller has the <c>agents.admin</c> role and so sees every principal's conversations.</summary>
    public bool Admin { get; init; }
}

/// <summary>One conversation in the list.</summary>
/// <param name="Agent">The agent.</param>
/// <param name="ConversationId">The conversation id.</param>
/// <param name="LastActivity">When a run was last accepted or finished.</param>
/// <param name="Turns">User messages.</param>
/// <param name="Runs">Runs, finished or not.</param>
/// <param name="LastRunStatus">The last run's status.</param>
/// <param name="FirstMessage">The first user message, clipped to 120 characters.</param>
/// <param name="Owner">The principal that started it.</param>
/// <param name="LastRunId">The last run's id.</param>
/// <param name="HostedBy">The Worker process hosting the conversation (<c>machine/pid</c>), where its runs execute.</param>
public sealed record ConversationSummaryView(
    string Agent, string ConversationId, DateTimeOffset LastActivity, int Turns, int Runs, string? LastRunStatus, string? FirstMessage, string? Owner, string? LastRunId, string? HostedBy);

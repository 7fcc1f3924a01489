using AgentStreaming.DurableAgents.Client;
using AgentStreaming.DurableAgents.Recovery;
using AgentStreaming.Worker.Api;
using AgentStreaming.Worker.Pages;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

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
        return app.MapGet("/agents/conversations", ListConversationsAsync)
            .WithTags("Agents page")
            .WithName("ListConversations")
            .WithSummary("The most recently active conversations, with their turns and last run, and the dashboard address for trace links.")
            .Produces<ConversationListView>()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task<IResult> ListConversationsAsync(
        ConversationIndex index, DurableAgentClient client, IOptions<AgentPagesOptions> options, ILoggerFactory loggers, int? take, CancellationToken cancellationToken)
    {
        var limit = Math.Clamp(take ?? options.Value.MaxConversations, 1, options.Value.MaxConversations);
        IReadOnlyList<ConversationIndexEntry> entries;
        try
        {
            entries = await index.ListAsync(limit).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            AgentPagesLog.RedisUnavailable(loggers.CreateLogger(typeof(AgentPagesEndpoints)), ex);
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Redis is unavailable",
                detail: "The conversation list lives in Redis, which does not answer. Try again shortly.");
        }

        // A few grains at a time: each is a call into the cluster.
        using var gate = new SemaphoreSlim(8);
        var rows = await Task.WhenAll(entries.Select(async entry =>
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var agent = client.GetAgent(entry.AgentName);
                var conversation = await agent.GetConversationAsync(agent.GetSession(entry.ConversationId)).WaitAsync(cancellationToken).ConfigureAwait(false);
                var first = conversation.History.FirstOrDefault(m => m.Role == "user")?.Text;
                return new ConversationSummaryView(
                    entry.AgentName,
                    entry.ConversationId,
                    entry.LastActivity,
                    conversation.History.Count(m => m.Role == "user"),
                    conversation.Runs.Count,
                    conversation.Runs.Count > 0 ? RunView.StatusName(conversation.Runs[^1].Status) : null,
                    first is null ? null : first.Length <= 120 ? first : first[..120] + "…");
            }
            finally
            {
                gate.Release();
            }
        })).ConfigureAwait(false);
        return Results.Ok(new ConversationListView(options.Value.DashboardUrl?.TrimEnd('/'), rows));
    }
}

/// <summary>The conversation list.</summary>
/// <param name="DashboardUrl">The Aspire dashboard, for trace links (<see langword="null"/> when unknown).</param>
/// <param name="Conversations">Most recently active first.</param>
public sealed record ConversationListView(string? DashboardUrl, IReadOnlyList<ConversationSummaryView> Conversations);

/// <summary>One conversation in the list.</summary>
/// <param name="Agent">The agent.</param>
/// <param name="ConversationId">The conversation id.</param>
/// <param name="LastActivity">When a run was last accepted or finished.</param>
/// <param name="Turns">User messages.</param>
/// <param name="Runs">Runs, finished or not.</param>
/// <param name="LastRunStatus">The last run's status.</param>
/// <param name="FirstMessage">The first user message, clipped to 120 characters.</param>
public sealed record ConversationSummaryView(string Agent, string ConversationId, DateTimeOffset LastActivity, int Turns, int Runs, string? LastRunStatus, string? FirstMessage);

internal static partial class AgentPagesLog
{
    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "The conversation list could not be read from Redis.")]
    public static partial void RedisUnavailable(ILogger logger, Exception exception);
}

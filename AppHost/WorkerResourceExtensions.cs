using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AgentStreaming.AppHost;

/// <summary>What the AppHost adds to the Worker resource: links to its pages and a command to try it.</summary>
internal static class WorkerResourceExtensions
{
    private const string Agent = "TravelPlanner";

    // The name Aspire gives the dashboard's own resource.
    private const string DashboardResourceName = "aspire-dashboard";

    /// <summary>
    /// Links the web chat and the agents page in the dashboard, signed in as the demo user (the token rides in the link's
    /// fragment, which browsers never send; the pages move it to their cookie and drop it from the address), and tells
    /// the Worker where the dashboard is (for trace links).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithAgentPages(this IResourceBuilder<ProjectResource> worker, IDistributedApplicationBuilder builder, string demoToken)
    {
        worker.WithUrls(context =>
        {
            var http = context.Urls.FirstOrDefault(u => u.Endpoint?.EndpointName == "http");
            if (http is null)
            {
                return;
            }

            http.DisplayText = "API";
            context.Urls.Add(new ResourceUrlAnnotation { Url = http.Url.TrimEnd('/') + "/chat/#token=" + demoToken, DisplayText = "Web chat", Endpoint = http.Endpoint });
            context.Urls.Add(new ResourceUrlAnnotation { Url = http.Url.TrimEnd('/') + "/agents/#token=" + demoToken, DisplayText = "Agents", Endpoint = http.Endpoint });
        });
        // The dashboard's address is known once it has started (its port is random under Aspire.Hosting.Testing).
        worker.WithEnvironment(context =>
        {
            var model = context.ExecutionContext.Services.GetRequiredService<DistributedApplicationModel>();
            var endpoint = model.Resources.OfType<IResourceWithEndpoints>()
                .FirstOrDefault(r => r.Name == DashboardResourceName)?.GetEndpoints()
                .FirstOrDefault(e => e.EndpointName is "https" or "http" && e.IsAllocated);
            if ((endpoint?.Url ?? AppHostSettings.DashboardUrl(builder)) is { } dashboard)
            {
                context.EnvironmentVariables["AgentPages__DashboardUrl"] = dashboard;
            }
        });
        return worker;
    }

    /// <summary>
    /// Turns on the capture of the agent's messages in its GenAI spans (the standard
    /// <c>OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT</c>, read by the Agent Framework and Microsoft.Extensions.AI)
    /// when the AppHost runs in Development, so the dashboard's GenAI view shows the conversation. Off elsewhere: prompts
    /// and answers are user content.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithGenAIMessageContentInDevelopment(this IResourceBuilder<ProjectResource> worker, IDistributedApplicationBuilder builder)
        => builder.Environment.IsDevelopment()
            ? worker.WithEnvironment("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
            : worker;

    /// <summary>Adds "Start a demo run": POSTs the demo prompt to the Worker's HTTP API and answers with the run id and where to watch it.</summary>
    public static IResourceBuilder<ProjectResource> WithDemoRunCommand(this IResourceBuilder<ProjectResource> worker, string demoToken) =>
        worker.WithHttpCommand(
            path: $"/agents/{Agent}/runs",
            displayName: "Start a demo run",
            endpointName: "http",
            commandName: "start-demo-run",
            commandOptions: new HttpCommandOptions
            {
                Description = $"Starts a {Agent} run on the demo prompt; watch it on the Agents page.",
                IconName = "Play",
                Method = HttpMethod.Post,
                PrepareRequest = context =>
                {
                    context.Request.Content = JsonContent.Create(new { message = AppHostSettings.DefaultDemoPrompt });
                    context.Request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", demoToken);
                    return Task.CompletedTask;
                },
                GetCommandResult = async context =>
                {
                    if (!context.Response.IsSuccessStatusCode)
                    {
                        return CommandResults.Failure($"The Worker answered {(int)context.Response.StatusCode}: {await context.Response.Content.ReadAsStringAsync(context.CancellationToken)}");
                    }

                    using var run = JsonDocument.Parse(await context.Response.Content.ReadAsStringAsync(context.CancellationToken));
                    var runId = run.RootElement.TryGetProperty("runId", out var id) ? id.GetString() : "?";
                    var conversation = run.RootElement.TryGetProperty("conversationId", out var c) ? c.GetString() : "?";
                    return CommandResults.Success($"Run {runId} started (conversation {conversation}). Follow it on the Agents page.");
                },
            });

    /// <summary>Views a Redis resource as a plain connection string resource (what <c>AddConnectionString</c> gives).</summary>
    public static IResourceBuilder<IResourceWithConnectionString> AsConnectionString<T>(this IResourceBuilder<T> resource)
        where T : IResourceWithConnectionString =>
        resource.ApplicationBuilder.CreateResourceBuilder<IResourceWithConnectionString>(resource.Resource);
}

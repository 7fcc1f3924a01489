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

    /// <summary>
    /// Adds "Kill a replica mid-run": finds the newest conversation of any user through the Worker's API (the agents page's list, as an admin,
    /// which names the process hosting it), and when its last run is still going, kills that Worker process with
    /// SIGKILL (kill -9). Another replica takes the run over as attempt 2: a <c>reset</c> in the chat and the agents
    /// page, a second <c>run_attempt</c> span in the run's trace. The outcome (which process, which run, or why nothing
    /// was killed) shows in the dashboard.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithKillReplicaCommand(this IResourceBuilder<ProjectResource> worker, string operatorToken)
    {
        var http = worker.GetEndpoint("http");
        return worker.WithCommand(
            name: KillReplicaCommandName,
            displayName: "Kill a replica mid-run",
            executeCommand: context => KillReplicaHostingNewestRunAsync(http, operatorToken, context.CancellationToken),
            commandOptions: new CommandOptions
            {
                Description = "kill -9 of the Worker replica running the newest run (whichever replica's row you click): another replica re-runs it as attempt 2. Start a demo run first.",
                ConfirmationMessage = "Kill (SIGKILL) the Worker replica that is running the newest run?",
                IconName = "Flash",
            });
    }

    /// <summary>The name of the "Kill a replica mid-run" command.</summary>
    public const string KillReplicaCommandName = "kill-replica";

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(15) };

    private static async Task<ExecuteCommandResult> KillReplicaHostingNewestRunAsync(EndpointReference http, string operatorToken, CancellationToken cancellationToken)
    {
        // As an admin: the newest conversation of any user.
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(http.Url), "/agents/conversations?take=1"));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", operatorToken);
        using var response = await Http.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            return CommandResults.Failure($"The Worker answered {(int)response.StatusCode} to the conversation list, so no replica was killed: {body}");
        }

        using var list = JsonDocument.Parse(body);
        if (list.RootElement.GetProperty("conversations").EnumerateArray().FirstOrDefault() is not { ValueKind: JsonValueKind.Object } newest)
        {
            return CommandResults.Failure("There is no run yet, so no replica was killed. Use \"Start a demo run\", then this command while it streams.");
        }

        var runId = newest.TryGetProperty("lastRunId", out var run) ? run.GetString() : null;
        var status = newest.TryGetProperty("lastRunStatus", out var s) ? s.GetString() : null;
        if (status is not ("running" or "queued"))
        {
            return CommandResults.Failure($"The newest run ({runId}) is {status ?? "unknown"}, not running, so no replica was killed. Use \"Start a demo run\", then this command while it streams.");
        }

        var hostedBy = newest.TryGetProperty("hostedBy", out var host) ? host.GetString() : null;
        var slash = hostedBy?.LastIndexOf('/') ?? -1;
        if (hostedBy is null || slash < 0
            || !string.Equals(hostedBy[..slash], Environment.MachineName, StringComparison.Ordinal)
            || !int.TryParse(hostedBy[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid))
        {
            return CommandResults.Failure($"Run {runId} is hosted by '{hostedBy}', which is not a Worker process on this machine ({Environment.MachineName}), so none was killed.");
        }

        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            if (!IsWorkerProcess(pid))
            {
                return CommandResults.Failure($"Process {pid}, which hosts run {runId}, is not a Worker (AgentStreaming.Worker), so it was not killed.");
            }

            process.Kill(entireProcessTree: false);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException)
        {
            return CommandResults.Failure($"The Worker process {pid} that hosted run {runId} has already exited; its run is being taken over.");
        }

        return CommandResults.Success($"Killed Worker process {pid} (kill -9), which was running run {runId}. Another replica re-runs it as attempt 2: watch the reset in the web chat or on the Agents page, and the second run_attempt in the run's trace.");
    }

    private static bool IsWorkerProcess(int pid)
    {
        // Linux: the command line names the Worker's assembly (dotnet AgentStreaming.Worker.dll, or its apphost).
        var cmdline = $"/proc/{pid}/cmdline";
        return File.Exists(cmdline)
            ? File.ReadAllText(cmdline).Contains("AgentStreaming.Worker", StringComparison.Ordinal)
            : System.Diagnostics.Process.GetProcessById(pid).ProcessName.Contains("Worker", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Views a Redis resource as a plain connection string resource (what <c>AddConnectionString</c> gives).</summary>
    public static IResourceBuilder<IResourceWithConnectionString> AsConnectionString<T>(this IResourceBuilder<T> resource)
        where T : IResourceWithConnectionString =>
        resource.ApplicationBuilder.CreateResourceBuilder<IResourceWithConnectionString>(resource.Resource);
}

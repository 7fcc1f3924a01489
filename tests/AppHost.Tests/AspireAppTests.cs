using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentStreaming.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace AgentStreaming.AppHost.Tests;

/// <summary>The whole system as <c>dotnet run --project AppHost</c> starts it, through Aspire.Hosting.Testing.</summary>
[Collection(SharedSystemDefinition.Name)]
public sealed partial class AspireAppTests(SharedSystem shared, ITestOutputHelper output)
{
    private const string Agent = "TravelPlanner";
    private AspireSystem System => shared.System;

    [Fact]
    public async Task DemoClient_ThenASecondTurnThroughTheClient_ContinueOneConversation()
    {
        var exitCode = await System.WaitForExitAsync("client", TimeSpan.FromSeconds(120));
        var demo = await System.ConsoleAsync("client", until: text => text.Contains("done", StringComparison.Ordinal));
        output.WriteLine(demo);
        Assert.Equal(0, exitCode);
        Assert.Contains("Tokyo", demo, StringComparison.Ordinal);
        var conversationId = ConversationId().Match(demo) is { Success: true } match
            ? match.Groups[1].Value
            : throw new Xunit.Sdk.XunitException("The demo Client printed no conversation id:\n" + demo);

        await using var second = ServiceProcess.StartDotnet(
            "client",
            RepoPaths.ProjectOutput("Client", "AgentStreaming.Client.dll"),
            ["--conversation", conversationId, "--prompt", "Now make it 5 days", "--json"],
            new Dictionary<string, string?> { ["ConnectionStrings__redis"] = await System.RedisAsync() });
        Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromSeconds(120)));
        Assert.Contains("\"done\"", second.Output, StringComparison.Ordinal);

        using var http = System.Worker();
        var conversation = await http.GetFromJsonAsync<JsonElement>($"/agents/{Agent}/conversations/{conversationId}");
        var history = conversation.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal(["user", "assistant", "user", "assistant"], history.Select(m => m.GetProperty("role").GetString()));
        Assert.Equal("Now make it 5 days", history[2].GetProperty("text").GetString());
        Assert.Contains("Tokyo", history[3].GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheDemoRun_IsOneReadableTrace_WithTheAgentFrameworksAgentSpan_AndNoBackgroundTraces()
    {
        Assert.Equal(0, await System.WaitForExitAsync("client", TimeSpan.FromSeconds(120)));
        var dashboard = await System.App.GetDashboardUrlAsync() ?? throw new Xunit.Sdk.XunitException("The dashboard does not run.");
        using var http = new HttpClient { BaseAddress = dashboard };
        // The AppHost gives the dashboard's telemetry API a key unless it runs anonymously.
        if (System.App.Services.GetRequiredService<Microsoft.Extensions.Configuration.IConfiguration>()["AppHost:DashboardApiKey"] is { Length: > 0 } key)
        {
            http.DefaultRequestHeaders.Add("x-api-key", key);
        }

        List<(string Service, string Name, JsonElement Span)> trace = [];
        await AspireSystem.WaitUntilAsync(
            async () =>
            {
                // The traces the client took part in (the list holds the newest 100 traces by default), then each whole.
                var clientTraces = (await DashboardSpansAsync(http, "/api/telemetry/traces?resource=client&limit=1000"))
                    .Select(s => s.Span.GetProperty("traceId").GetString()).Distinct().ToList();
                foreach (var traceId in clientTraces)
                {
                    var spans = await DashboardSpansAsync(http, $"/api/telemetry/traces/{traceId}");
                    if (spans.Any(s => s.Service == "client")
                        && spans.Any(s => s.Service == "worker" && s.Name.StartsWith("invoke_agent", StringComparison.Ordinal))
                        && spans.Any(s => s.Service == "worker" && s.Name.StartsWith("chat", StringComparison.Ordinal))
                        && spans.Count(s => s.Name == "agent_stream append") >= 2)
                    {
                        trace = spans;
                        return true;
                    }
                }

                return false;
            },
            TimeSpan.FromSeconds(60),
            () => "no trace with client, invoke_agent, chat and the stream's claim and terminal spans in the dashboard");

        output.WriteLine($"{trace.Count} spans:\n" + string.Join('\n', trace.Select(s => $"{s.Service,-8} {s.Name}")));
        Assert.True(trace.Count < 60, $"The demo run's trace has {trace.Count} spans.");
        Assert.DoesNotContain(trace, s => s.Name is "EVAL" or "EVALSHA");
        var attempt = Assert.Single(trace, s => s.Name == $"run_attempt {Agent}");
        Assert.Contains(Attributes(attempt.Span), a => a.Key == "agent_streaming.run.id");
        // One invoke_agent span, the Agent Framework's, per the GenAI conventions; in Development with the messages.
        var agent = Assert.Single(trace, s => s.Name.StartsWith("invoke_agent", StringComparison.Ordinal));
        var genAi = Attributes(agent.Span);
        Assert.Equal(Agent, genAi.GetValueOrDefault("gen_ai.agent.name"));
        Assert.Equal("offline-demo", genAi.GetValueOrDefault("gen_ai.provider.name"));
        Assert.Contains(genAi.Values, v => v.Contains("Tokyo", StringComparison.Ordinal));
        Assert.Contains(trace, s => s.Name.Contains("get_weather_forecast", StringComparison.Ordinal));
        var terminal = trace.Where(s => s.Name == "agent_stream append").Select(s => Attributes(s.Span)).Single(a => a.ContainsKey("agent_streaming.stream.batches"));
        output.WriteLine($"stream: {terminal["agent_streaming.stream.batches"]} batches, {terminal["agent_streaming.stream.entries"]} entries, {terminal["agent_streaming.stream.bytes"]} bytes");

        // Periodic work (recovery scans every second, lease renewals, the pump's calls) started no trace of its own: every
        // root the Workers sent is a request or a run, none a bare Redis command.
        var workerRoots = (await DashboardSpansAsync(http, "/api/telemetry/traces?resource=worker&limit=1000"))
            .Where(s => s.Service == "worker" && string.IsNullOrEmpty(s.Span.TryGetProperty("parentSpanId", out var parent) ? parent.GetString() : null))
            .Select(s => s.Name)
            .ToList();
        output.WriteLine("worker roots: " + string.Join(", ", workerRoots.GroupBy(n => n).Select(g => $"{g.Key} ×{g.Count()}")));
        Assert.DoesNotContain(workerRoots, name => name is "EVAL" or "EVALSHA" or "ZADD" or "PING" or "XREAD" or "XRANGE");
    }

    private static Dictionary<string, string> Attributes(JsonElement span)
        => span.GetProperty("attributes").EnumerateArray().ToDictionary(
            a => a.GetProperty("key").GetString()!,
            a => a.GetProperty("value") is var value && value.TryGetProperty("stringValue", out var text) ? text.GetString() ?? string.Empty : value.ToString());

    [Fact]
    public async Task RestartingRedis_KeepsConversationHistoryAndFinishedRunStreams()
    {
        using var http = System.Worker();
        using var started = await http.PostAsJsonAsync($"/agents/{Agent}/runs", new { message = "Plan a 2-day trip to Porto" });
        started.EnsureSuccessStatusCode();
        var run = await started.Content.ReadFromJsonAsync<JsonElement>();
        var runId = run.GetProperty("runId").GetString()!;
        var conversationId = run.GetProperty("conversationId").GetString()!;
        var before = await ReadStreamAsync(http, runId);
        Assert.Equal("done", before[^1].Event);

        // Stop, wait until the process has exited, start: the dashboard's one-step Restart now and then started the new
        // redis-server before the old one had let go of the port ("failed to start"; Start again recovers).
        var commands = System.App.Services.GetRequiredService<ResourceCommandService>();
        var stopped = await commands.ExecuteCommandAsync("redis", KnownResourceCommands.StopCommand);
        Assert.True(stopped.Success, stopped.Message);
        await System.WaitForExitAsync("redis", AspireSystem.StartTimeout);
        var restarted = await commands.ExecuteCommandAsync("redis", KnownResourceCommands.StartCommand);
        Assert.True(restarted.Success, restarted.Message);
        using (var cts = new CancellationTokenSource(AspireSystem.StartTimeout))
        {
            try
            {
                await System.App.ResourceNotifications.WaitForResourceHealthyAsync("redis", cts.Token);
            }
            catch (DistributedApplicationException ex)
            {
                throw new Xunit.Sdk.XunitException($"{ex.Message}\nredis console:\n{await System.ConsoleAsync("redis", timeout: TimeSpan.FromSeconds(2))}");
            }

            await System.App.ResourceNotifications.WaitForResourceHealthyAsync("worker", cts.Token);
        }

        JsonElement conversation = default;
        await AspireSystem.WaitUntilAsync(
            async () =>
            {
                using var response = await http.GetAsync($"/agents/{Agent}/conversations/{conversationId}");
                if (!response.IsSuccessStatusCode)
                {
                    return false;
                }

                conversation = await response.Content.ReadFromJsonAsync<JsonElement>();
                return true;
            },
            TimeSpan.FromSeconds(60),
            () => "the conversation is not readable after the restart");
        var history = conversation.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal(2, history.Count);
        var after = await ReadStreamAsync(http, runId);
        Assert.Equal(before.Select(e => (e.Id, e.Data)), after.Select(e => (e.Id, e.Data)));
        Assert.Equal(history[1].GetProperty("text").GetString(), string.Concat(after.Where(e => e.Event == "text").Select(e => e.Data)));
    }

    private static async Task<List<(string Id, string Event, string Data)>> ReadStreamAsync(HttpClient http, string runId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/agents/{Agent}/runs/{runId}/stream");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        response.EnsureSuccessStatusCode();
        var events = new List<(string, string, string)>();
        await foreach (var item in global::System.Net.ServerSentEvents.SseParser.Create(await response.Content.ReadAsStreamAsync(cts.Token)).EnumerateAsync(cts.Token))
        {
            if (item.EventId is null)
            {
                continue;
            }

            events.Add((item.EventId ?? string.Empty, item.EventType, item.Data));
            if (item.EventType is "done" or "error" or "cancelled")
            {
                break;
            }
        }

        return events;
    }

    private static async Task<List<(string Service, string Name, JsonElement Span)>> DashboardSpansAsync(HttpClient dashboard, string path)
    {
        using var response = await dashboard.GetAsync(path);
        if (response.StatusCode == global::System.Net.HttpStatusCode.NotFound)
        {
            // The resource or trace has sent nothing yet.
            return [];
        }

        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var result = new List<(string, string, JsonElement)>();
        foreach (var resourceSpans in document.RootElement.GetProperty("data").GetProperty("resourceSpans").EnumerateArray())
        {
            var service = resourceSpans.GetProperty("resource").GetProperty("attributes").EnumerateArray()
                .FirstOrDefault(a => a.GetProperty("key").GetString() == "service.name").GetProperty("value").GetProperty("stringValue").GetString() ?? "?";
            foreach (var scope in resourceSpans.GetProperty("scopeSpans").EnumerateArray())
            {
                foreach (var span in scope.GetProperty("spans").EnumerateArray())
                {
                    result.Add((service, span.GetProperty("name").GetString()!, span.Clone()));
                }
            }
        }

        return result;
    }

    [GeneratedRegex("conversation ([0-9a-f]{32})")]
    private static partial Regex ConversationId();
}

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
        using var http = await DashboardTelemetry.ClientAsync(System);
        var trace = await DashboardTelemetry.DemoTraceAsync(http);

        output.WriteLine($"{trace.Count} spans:\n" + string.Join('\n', trace.Select(s => $"{s.Service,-8} {s.Name}")));
        Assert.True(trace.Count < 60, $"The demo run's trace has {trace.Count} spans.");
        Assert.DoesNotContain(trace, s => s.Name is "EVAL" or "EVALSHA");
        var attempt = Assert.Single(trace, s => s.Name == $"run_attempt {Agent}");
        Assert.Contains(DashboardTelemetry.Attributes(attempt.Span), a => a.Key == "agent_streaming.run.id");
        // One invoke_agent span, the Agent Framework's, per the GenAI conventions; in Development with the messages.
        var agent = Assert.Single(trace, s => s.Name.StartsWith("invoke_agent", StringComparison.Ordinal));
        var genAi = DashboardTelemetry.Attributes(agent.Span);
        Assert.Equal(Agent, genAi.GetValueOrDefault("gen_ai.agent.name"));
        Assert.Equal("offline-demo", genAi.GetValueOrDefault("gen_ai.provider.name"));
        Assert.Contains(genAi.Values, v => v.Contains("Tokyo", StringComparison.Ordinal));
        Assert.Contains(trace, s => s.Name.Contains("get_weather_forecast", StringComparison.Ordinal));
        var terminal = trace.Where(s => s.Name == "agent_stream append").Select(s => DashboardTelemetry.Attributes(s.Span)).Single(a => a.ContainsKey("agent_streaming.stream.batches"));
        output.WriteLine($"stream: {terminal["agent_streaming.stream.batches"]} batches, {terminal["agent_streaming.stream.entries"]} entries, {terminal["agent_streaming.stream.bytes"]} bytes");

        // Periodic work (recovery scans every second, lease renewals, the pump's calls) started no trace of its own: every
        // root the Workers sent is a request or a run, none a bare Redis command.
        // Every resource's traces: with two replicas the name "worker" names none of them.
        var workerRoots = (await DashboardTelemetry.SpansAsync(http, "/api/telemetry/traces?limit=1000"))
            .Where(s => s.Service == "worker" && DashboardTelemetry.IsRoot(s.Span))
            .Select(s => s.Name)
            .ToList();
        output.WriteLine("worker roots: " + string.Join(", ", workerRoots.GroupBy(n => n).Select(g => $"{g.Key} ×{g.Count()}")));
        Assert.DoesNotContain(workerRoots, name => name is "EVAL" or "EVALSHA" or "ZADD" or "PING" or "XREAD" or "XRANGE");
    }

    [Fact]
    public async Task AResumeOfTheDemoRun_IsASpanOfTheReadersRequest_LinkedToTheRunsTrace()
    {
        Assert.Equal(0, await System.WaitForExitAsync("client", TimeSpan.FromSeconds(120)));
        using var dashboard = await DashboardTelemetry.ClientAsync(System);
        var demo = await DashboardTelemetry.DemoTraceAsync(dashboard);
        var runTrace = demo[0].Span.GetProperty("traceId").GetString();
        var runId = DashboardTelemetry.Attributes(demo.Single(s => s.Name == $"run_attempt {Agent}").Span)["agent_streaming.run.id"];

        // A browser's EventSource reconnecting: the stream after the third entry.
        using var http = System.Worker();
        var entries = await ReadStreamAsync(http, runId);
        var resumed = await ReadStreamAsync(http, runId, lastEventId: entries[2].Id);
        Assert.Equal(entries.Skip(3), resumed);

        (string Service, string Name, JsonElement Span) resume = default;
        List<(string Service, string Name, JsonElement Span)> spans = [];
        await AspireSystem.WaitUntilAsync(
            async () =>
            {
                spans = (await DashboardTelemetry.SpansAsync(dashboard, "/api/telemetry/traces?limit=1000")).Where(s => s.Service == "worker").ToList();
                resume = spans.FirstOrDefault(s => s.Name.StartsWith("resume_run", StringComparison.Ordinal)
                    && DashboardTelemetry.Attributes(s.Span).GetValueOrDefault("agent_streaming.stream.cursor") == entries[2].Id);
                return resume.Name is not null;
            },
            TimeSpan.FromSeconds(60),
            () => "no resume_run span of the resume in the dashboard; the Workers' spans: " + string.Join(", ", spans.Select(s => s.Name).Distinct()));

        // Under the reader's request (GET …/stream), in a trace of its own, linked to the run's trace.
        var readerTrace = await DashboardTelemetry.SpansAsync(dashboard, $"/api/telemetry/traces/{resume.Span.GetProperty("traceId").GetString()}");
        output.WriteLine(string.Join('\n', readerTrace.Select(s => $"{s.Service,-8} {s.Name}")));
        Assert.NotEqual(runTrace, resume.Span.GetProperty("traceId").GetString());
        Assert.Contains(readerTrace, s => s.Span.GetProperty("spanId").GetString() == resume.Span.GetProperty("parentSpanId").GetString() && s.Name.StartsWith("GET", StringComparison.Ordinal));
        var link = Assert.Single(resume.Span.GetProperty("links").EnumerateArray());
        Assert.Equal(runTrace, link.GetProperty("traceId").GetString());
        Assert.Equal(runId, DashboardTelemetry.Attributes(resume.Span)["agent_streaming.run.id"]);
    }

    [Fact]
    public async Task AnIdleApp_StartsNoTraceIn30Seconds()
    {
        Assert.Equal(0, await System.WaitForExitAsync("client", TimeSpan.FromSeconds(120)));
        using var dashboard = await DashboardTelemetry.ClientAsync(System);
        // Let the spans of the demo run and of earlier tests arrive (exports go out every second in Development).
        var since = DateTimeOffset.UtcNow.AddSeconds(2);
        var until = since.AddSeconds(30);
        List<string> roots = [];
        // Polled up to the deadline: the recovery scans (every second), lease renewals, membership and the health probes
        // run all along; none may start a trace.
        while (DateTimeOffset.UtcNow < until.AddSeconds(3) && roots.Count == 0)
        {
            // Every resource's traces (with two replicas the name "worker" names none of them).
            roots.AddRange((await DashboardTelemetry.SpansAsync(dashboard, "/api/telemetry/traces?limit=1000"))
                .Where(s => DashboardTelemetry.IsRoot(s.Span) && DashboardTelemetry.StartTime(s.Span) is var start && start >= since && start < until)
                .Select(s => $"{s.Service} {s.Name} at {DashboardTelemetry.StartTime(s.Span):HH:mm:ss.fff}"));

            await Task.Delay(1000);
        }

        Assert.True(roots.Count == 0, "Traces started while the app was idle:\n" + string.Join('\n', roots));
    }

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
        using (var stopping = new CancellationTokenSource(AspireSystem.StartTimeout))
        {
            var stopped = await commands.ExecuteCommandAsync("redis", KnownResourceCommands.StopCommand, stopping.Token);
            Assert.True(stopped.Success, stopped.Message);
        }

        await System.WaitForExitAsync("redis", AspireSystem.StartTimeout);
        using (var cts = new CancellationTokenSource(AspireSystem.StartTimeout))
        {
            var restarted = await commands.ExecuteCommandAsync("redis", KnownResourceCommands.StartCommand, cts.Token);
            Assert.True(restarted.Success, restarted.Message);
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

    internal static async Task<List<(string Id, string Event, string Data)>> ReadStreamAsync(HttpClient http, string runId, string? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/agents/{Agent}/runs/{runId}/stream");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

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

    [GeneratedRegex("conversation ([0-9a-f]{32})")]
    private static partial Regex ConversationId();
}

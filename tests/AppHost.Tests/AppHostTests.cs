using System.Diagnostics;
using AgentStreaming.AppHost.Hosting;
using AgentStreaming.AppHost.Testing;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;

namespace AgentStreaming.AppHost.Tests;

public sealed class AppHostTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task DemoClient_AndASecondTurn_RunEndToEndThroughTheStartedProcesses()
    {
        await using var app = DistributedApplicationTestingBuilder.Create().Build();
        await app.StartAsync(StartTimeout);
        var client = app.Application.Instance("client");
        await WaitUntilAsync(() => client.State is ResourceState.Exited, TimeSpan.FromSeconds(90), () => Console(client));
        Assert.Equal(0, client.ExitCode);
        var firstOutput = Console(client);
        Assert.Contains("Tokyo", firstOutput, StringComparison.Ordinal);

        await using var system = await SystemClient.ConnectAsync(app.GetConnectionString("redis"));
        var agent = system.Client.GetAgent("TravelPlanner");
        var conversationId = ConversationIdIn(firstOutput);
        var session = agent.GetSession(conversationId);
        var second = await agent.RunAsync("Now make it 5 days", session, new DurableRunOptions { WaitForResponse = true });

        Assert.Equal(RunStatus.Completed, second.Run!.Status);
        var conversation = await agent.GetConversationAsync(session);
        Assert.Equal(["user", "assistant", "user", "assistant"], conversation.History.Select(m => m.Role));
        Assert.Contains("Tokyo", conversation.History[3].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KillingTheWorkerHostingARun_TheClientStillFinishesWithTheCompleteResponse()
    {
        await using var app = DistributedApplicationTestingBuilder.Create()
            .WithoutClient()
            .WithWorkerReplicas(2)
            .WithWorkerEnvironment("OfflineDemoModel__TokensPerSecond", "40")
            .Build();
        await app.StartAsync(StartTimeout);
        await using var system = await SystemClient.ConnectAsync(app.GetConnectionString("redis"));
        var agent = system.Client.GetAgent("TravelPlanner");
        var session = agent.NewSession();
        var run = await agent.RunAsync("Plan a 3-day trip to Kyoto with temples and food", session);

        await using var clientProcess = ServiceProcess.StartDotnet(
            "client",
            RepoPaths.ProjectOutput("Client", "AgentStreaming.Client.dll"),
            ["--run", run.RunId, "--json"],
            new Dictionary<string, string?> { ["ConnectionStrings__redis"] = app.GetConnectionString("redis") });
        var chunks = new List<StreamChunk>();
        await foreach (var chunk in system.Client.StreamAsync(run.RunId))
        {
            chunks.Add(chunk);
            if (chunks.Count(c => c.Kind == StreamEntryKind.Text) >= 10)
            {
                break;
            }
        }

        var hostedBy = (await agent.GetConversationAsync(session)).HostedBy!;
        var pid = int.Parse(hostedBy[(hostedBy.LastIndexOf('/') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var victim = app.Application.InstancesOf("worker").Single(i => ProcessTable.Descendants(i.ProcessId!.Value).Contains(pid) || i.ProcessId == pid);
        await app.Application.KillAsync(victim.Name);

        Assert.Equal(0, await clientProcess.WaitForExitAsync(TimeSpan.FromSeconds(120)));
        var final = (await agent.GetConversationAsync(session)).History.Single(m => m.Role == "assistant");
        Assert.Contains("\"reset\"", clientProcess.Output, StringComparison.Ordinal);
        Assert.Contains("\"done\"", clientProcess.Output, StringComparison.Ordinal);
        Assert.Contains("Kyoto", final.Text, StringComparison.Ordinal);
        // The AppHost restarts the killed replica.
        await WaitUntilAsync(() => victim.State is ResourceState.Healthy && victim.Restarts == 1, TimeSpan.FromSeconds(90), () => Console(victim));
    }

    [Fact]
    public async Task RestartingRedis_KeepsConversationHistoryAndFinishedRunStreams()
    {
        await using var app = DistributedApplicationTestingBuilder.Create().WithoutClient().Build();
        await app.StartAsync(StartTimeout);
        string conversationId;
        string runId;
        await using (var system = await SystemClient.ConnectAsync(app.GetConnectionString("redis")))
        {
            var agent = system.Client.GetAgent("TravelPlanner");
            var session = agent.NewSession();
            var result = await agent.RunAsync("Plan a 2-day trip to Porto", session, new DurableRunOptions { WaitForResponse = true });
            Assert.Equal(RunStatus.Completed, result.Run!.Status);
            conversationId = session.ConversationId;
            runId = result.RunId;
        }

        await app.Application.RestartResourceAsync("redis");
        await app.Application.WaitForHealthyAsync("redis", StartTimeout);

        await using var after = await SystemClient.ConnectAsync(app.GetConnectionString("redis"));
        var again = after.Client.GetAgent("TravelPlanner");
        var conversation = await again.GetConversationAsync(again.GetSession(conversationId));
        Assert.Equal(2, conversation.History.Count);
        var chunks = new List<StreamChunk>();
        await foreach (var chunk in after.Client.StreamAsync(runId))
        {
            chunks.Add(chunk);
        }

        Assert.Equal(StreamEntryKind.Done, chunks[^1].Kind);
        Assert.Equal(conversation.History[1].Text, string.Concat(chunks.Where(c => c.Kind == StreamEntryKind.Text).Select(c => c.Text)));
    }

    [Fact]
    public async Task Dispose_LeavesNoChildProcessRunning()
    {
        var app = DistributedApplicationTestingBuilder.Create().WithoutClient().WithWorkerReplicas(2).Build();
        await app.StartAsync(StartTimeout);
        var children = ProcessTable.Descendants(Environment.ProcessId)
            .Where(pid => app.Application.Instances.Any(i => i.ProcessId == pid || (i.ProcessId is { } root && ProcessTable.Descendants(root).Contains(pid))))
            .ToList();
        Assert.True(children.Count >= 3, $"Expected redis and two workers, found {children.Count} processes.");

        await app.DisposeAsync();

        Assert.All(children, pid => Assert.False(ProcessTable.IsAlive(pid), $"Process {pid} outlived the AppHost."));
    }

    [Fact]
    public async Task KillingTheAppHostProcess_TakesItsChildrenWithIt()
    {
        var dashboardPort = FreePort.Next();
        var data = Directory.CreateTempSubdirectory("agent-streaming-apphost-kill-").FullName;
        await using var apphost = ServiceProcess.StartDotnet(
            "apphost",
            RepoPaths.ProjectOutput("AppHost", "AgentStreaming.AppHost.dll"),
            [$"--Dashboard:Port={dashboardPort}", "--Redis:Port=0", $"--Redis:DataDirectory={data}", "--Client:Enabled=false"]);
        await apphost.WaitForOutputAsync(@"worker-1: Healthy", StartTimeout);
        var descendants = ProcessTable.Descendants(apphost.Id);
        Assert.True(descendants.Count >= 2, "Expected redis and a worker under the AppHost.");

        await apphost.KillAsync();

        await WaitUntilAsync(() => descendants.All(pid => !ProcessTable.IsAlive(pid)), TimeSpan.FromSeconds(10),
            () => "Still alive: " + string.Join(", ", descendants.Where(ProcessTable.IsAlive)));
        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public async Task OneTrace_HoldsSpansOfTheClientAndTheWorkerForTheSameRun()
    {
        await using var app = DistributedApplicationTestingBuilder.Create().Build();
        await app.StartAsync(StartTimeout);
        var client = app.Application.Instance("client");
        await WaitUntilAsync(() => client.State is ResourceState.Exited, TimeSpan.FromSeconds(90), () => Console(client));

        var telemetry = app.Application.Telemetry;
        IReadOnlyList<Otlp.SpanRecord> trace = [];
        await WaitUntilAsync(
            () =>
            {
                trace = telemetry.Spans()
                    .GroupBy(s => s.TraceId)
                    .Select(g => g.ToList())
                    .FirstOrDefault(g => g.Any(s => s.Service == "client") && g.Any(s => s.Service == "worker" && s.Name.StartsWith("invoke_agent", StringComparison.Ordinal))
                        && g.Any(s => s.Name == "agent_stream append")) ?? [];
                return trace.Count > 0;
            },
            TimeSpan.FromSeconds(30),
            () => string.Join('\n', telemetry.Spans().Select(s => $"{s.TraceId} {s.Service} {s.Name}")));

        output.WriteLine(string.Join('\n', trace.Select(s => $"{s.Service,-8} {s.Name}")));
        var run = trace.Single(s => s.Name.StartsWith("invoke_agent", StringComparison.Ordinal));
        Assert.Contains(trace, s => s.Service == "worker" && s.Name.StartsWith("chat", StringComparison.Ordinal));
        Assert.True(run.Attributes.ContainsKey("agent_streaming.run.id"));
    }

    private static string Console(ResourceInstance instance) => string.Join('\n', instance.Console.After(0).Select(l => l.Text));

    private static string ConversationIdIn(string clientOutput)
    {
        var match = System.Text.RegularExpressions.Regex.Match(clientOutput, "conversation ([0-9a-f]{32})");
        Assert.True(match.Success, "The client did not print its conversation id:\n" + clientOutput);
        return match.Groups[1].Value;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> describe)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"Condition not met within {timeout}:\n{describe()}");
            }

            await Task.Delay(100);
        }
    }
}

using AgentStreaming.DurableAgents;
using AgentStreaming.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace AgentStreaming.AppHost.Tests;

/// <summary>kill -9 of the Worker replica that hosts a run (the worker's "Kill a replica mid-run" command), with the system started by the AppHost.</summary>
public sealed class WorkerCrashTests(ITestOutputHelper output)
{
    [Fact]
    public async Task KillAReplicaMidRunCommand_KillsTheWorkerHostingTheRun_TheOtherReplicaFinishesItAsAttempt2()
    {
        await using var system = await AspireSystem.StartAsync(workerReplicas: 2);
        var redis = await system.RedisAsync();
        await using var orleans = await SystemClient.ConnectAsync(redis);
        var agent = orleans.Client.GetAgent("TravelPlanner");
        var session = agent.NewSession();
        var run = await agent.StartRunAsync("Plan a 3-day trip to Kyoto with temples and food", session);

        await using var client = ServiceProcess.StartDotnet(
            "client",
            RepoPaths.ProjectOutput("Client", "AgentStreaming.Client.dll"),
            ["--run", run.RunId, "--json"],
            new Dictionary<string, string?> { ["ConnectionStrings__redis"] = redis });
        // Mid-stream: some text is out, the answer is not finished.
        await client.WaitForOutputAsync("\"kind\":\"text\",\"text\":\" Kyoto\"", TimeSpan.FromSeconds(60));

        // The dashboard's "Kill a replica mid-run" on one replica's row: it kills whichever replica runs the newest run.
        var hostedBy = (await agent.GetConversationAsync(session)).HostedBy!;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var replica = (await system.App.ResourceNotifications.WaitForResourceAsync("worker", e => e.Snapshot.State?.Text == "Running", deadline.Token)).ResourceId;
        var killed = await system.App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync(replica, "kill-replica", deadline.Token);
        output.WriteLine($"run {run.RunId} hosted by {hostedBy}; {killed.Message}");
        Assert.True(killed.Success, killed.Message);
        Assert.Contains(hostedBy[(hostedBy.LastIndexOf('/') + 1)..], killed.Message, StringComparison.Ordinal);
        Assert.Contains(run.RunId, killed.Message, StringComparison.Ordinal);

        Assert.Equal(0, await client.WaitForExitAsync(TimeSpan.FromSeconds(120)));
        output.WriteLine(client.Output);
        var conversation = await agent.GetConversationAsync(session);
        var final = conversation.History.Single(m => m.Role == "assistant");
        Assert.Contains("\"reset\"", client.Output, StringComparison.Ordinal);
        Assert.Contains("\"done\"", client.Output, StringComparison.Ordinal);
        Assert.Contains("Kyoto", final.Text, StringComparison.Ordinal);
        Assert.Equal(RunStatus.Completed, conversation.Runs.Single().Status);
        Assert.Equal(2, conversation.Runs.Single().Attempts);
        Assert.NotEqual(hostedBy, conversation.HostedBy);
    }
}

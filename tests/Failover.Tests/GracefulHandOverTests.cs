using System.Diagnostics;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Failover.Tests;

/// <summary>A Worker stopped gracefully (SIGTERM) hands its running run to another Worker at once.</summary>
public sealed class GracefulHandOverTests(AppendOnlyRedisServerFixture redis, ITestOutputHelper output)
{
    [Fact]
    public async Task SigtermOfTheWorkerHostingARun_AnotherWorkerContinuesItAsAttemptTwo_WithinAboutASecond()
    {
        await using var cluster = await WorkerCluster.StartAsync(redis.Server);
        var agent = cluster.Client.GetAgent("TravelPlanner");
        var session = agent.NewSession();

        var run = await agent.StartRunAsync("Plan a 3-day trip to Porto with food and museums", session);
        var watcher = RunWatcher.Start(cluster.Client, run.RunId);
        var chunks = watcher.Chunks;
        await watcher.TenTexts.WaitAsync(TimeSpan.FromSeconds(60));

        var host = cluster.WorkerHosting((await agent.GetConversationAsync(session)).HostedBy!);
        var stoppedAt = Stopwatch.GetTimestamp();
        host.Terminate();
        var resumedAt = await watcher.ResetSeen.WaitAsync(TimeSpan.FromSeconds(60));
        var handOver = Stopwatch.GetElapsedTime(stoppedAt, resumedAt);
        output.WriteLine($"SIGTERM → reset of attempt 2: {handOver.TotalSeconds:0.00} s");
        await watcher.Reading.WaitAsync(TimeSpan.FromSeconds(120));
        await host.WaitForExitAsync(TimeSpan.FromSeconds(30));

        // The lease is 6 s: a hand-over that waited for it to lapse would take longer than this.
        Assert.True(handOver < TimeSpan.FromSeconds(3), $"The hand-over took {handOver.TotalSeconds:0.00} s.");
        await host.WaitForOutputAsync("handed over", TimeSpan.FromSeconds(1));
        Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);
        var reset = chunks.FindIndex(c => c.Kind == DurableRunChunkKind.Reset);
        Assert.All(chunks[..reset], c => Assert.Equal(1, c.Attempt));
        Assert.All(chunks[(reset + 1)..], c => Assert.Equal(2, c.Attempt));
        var conversation = await agent.GetConversationAsync(session);
        var answer = Assert.Single(conversation.History, m => m.Role == "assistant" && m.RunId == run.RunId);
        Assert.Equal(answer.Text, AgentStreaming.Testing.StreamTranscript.Visible(chunks));
        var info = Assert.Single(conversation.Runs);
        Assert.Equal(RunStatus.Completed, info.Status);
        Assert.Equal(2, info.Attempts);
    }
}

using System.Diagnostics;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Failover.Tests;

public sealed class WorkerCrashRecoveryTests(AppendOnlyRedisServerFixture redis, ITestOutputHelper output)
{
    [Theory]
    [InlineData("redis-server")]
    [InlineData("Redis Cluster, 3 primaries + 3 replicas")]
    public async Task KillingTheWorkerHostingARun_MidStream_AnotherWorkerCompletesItAsAttemptTwo(string topology)
    {
        await using var redisCluster = topology.StartsWith("Redis Cluster", StringComparison.Ordinal) ? await RedisCluster.StartAsync(primaries: 3, replicasPerPrimary: 1) : null;
        await using var cluster = await WorkerCluster.StartAsync(redisCluster?.ConnectionString ?? redis.Server.ConnectionString);
        var agent = cluster.Client.GetAgent("TravelPlanner");
        var session = agent.NewSession();

        var run = await agent.StartRunAsync("Plan a 3-day trip to Lisbon with food and museums", session);
        var watcher = RunWatcher.Start(cluster.Client, run.RunId);
        var chunks = watcher.Chunks;
        await watcher.TenTexts.WaitAsync(TimeSpan.FromSeconds(60));

        var host = cluster.WorkerHosting((await agent.GetConversationAsync(session)).HostedBy!);
        var killedAt = Stopwatch.GetTimestamp();
        await host.KillAsync();
        var recoveredAt = await watcher.ResetSeen.WaitAsync(TimeSpan.FromSeconds(60));
        var recovery = Stopwatch.GetElapsedTime(killedAt, recoveredAt);
        output.WriteLine($"kill -9 → reset of attempt 2: {recovery.TotalSeconds:0.00} s");
        var survivor = cluster.Workers.Single(w => w.Id != host.Id);
        foreach (var line in survivor.Output.Split('\n').Where(l => l.Contains("under a lease", StringComparison.Ordinal) || l.Contains("Recover", StringComparison.Ordinal)))
        {
            output.WriteLine("survivor: " + line.Trim());
        }

        // The run's claim lapses within RunLeaseDuration (6 s) of the kill; a longer wait is something else holding the
        // run back (e.g. the grain directory's hold on the dead silo's grains, 22 s with Orleans' default lease).
        Assert.True(recovery < TimeSpan.FromSeconds(15), $"Attempt 2 began {recovery.TotalSeconds:0.00} s after the kill.");
        await watcher.Reading.WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);
        var reset = chunks.FindIndex(c => c.Kind == DurableRunChunkKind.Reset);
        Assert.All(chunks[..reset], c => Assert.Equal(1, c.Attempt));
        Assert.All(chunks[(reset + 1)..], c => Assert.Equal(2, c.Attempt));
        // Attempt 1 from 1, then the reset at the start of the next claim's range (a multiple of 1,000,000), contiguous after it.
        Assert.Equal(Enumerable.Range(1, reset).Select(i => (long)i), chunks[..reset].Select(c => c.Sequence));
        Assert.Equal(0, chunks[reset].Sequence % 1_000_000);
        Assert.Equal(Enumerable.Range(0, chunks.Count - reset).Select(i => chunks[reset].Sequence + i), chunks[reset..].Select(c => c.Sequence));
        var conversation = await agent.GetConversationAsync(session);
        var answer = Assert.Single(conversation.History, m => m.Role == "assistant" && m.RunId == run.RunId);
        Assert.Equal(answer.Text, AgentStreaming.Testing.StreamTranscript.Visible(chunks));
        Assert.Contains("Lisbon", answer.Text, StringComparison.Ordinal);
        var info = Assert.Single(conversation.Runs);
        Assert.Equal(RunStatus.Completed, info.Status);
        Assert.Equal(2, info.Attempts);
    }

    [Fact]
    public async Task KillingTheOnlyWorker_ThenStartingANewOne_CompletesTheRunningAndTheQueuedRun()
    {
        await using var cluster = new WorkerCluster(redis.Server, tokensPerSecond: 40);
        var first = await cluster.StartWorkerAsync();
        await cluster.StartClientAsync();
        var agent = cluster.Client.GetAgent("TravelPlanner");
        var session = agent.NewSession();
        var running = await agent.StartRunAsync("Plan a 2-day trip to Oslo", session);
        var queued = await agent.StartRunAsync("Now make it 3 days", session);
        await RunStreams.FirstTextAsync(cluster.Client, running.RunId);

        await first.KillAsync();
        await cluster.StartWorkerAsync();

        var runningChunks = await RunStreams.ReadAllAsync(cluster.Client, running.RunId, TimeSpan.FromSeconds(120));
        var queuedChunks = await RunStreams.ReadAllAsync(cluster.Client, queued.RunId, TimeSpan.FromSeconds(120));
        Assert.Equal(DurableRunChunkKind.Done, runningChunks[^1].Kind);
        Assert.Equal(DurableRunChunkKind.Done, queuedChunks[^1].Kind);
        var conversation = await agent.GetConversationAsync(session);
        Assert.Equal([running.RunId, running.RunId, queued.RunId, queued.RunId], conversation.History.Select(m => m.RunId));
        Assert.All(conversation.Runs, r => Assert.Equal(RunStatus.Completed, r.Status));
    }
}

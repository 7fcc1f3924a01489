using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Failover.Tests;

/// <summary>With the default settings (Orleans' distributed grain directory), a peer's kill -9 does not disturb the runs the surviving Worker hosts.</summary>
public sealed class PeerCrashTests(AppendOnlyRedisServerFixture redis, ITestOutputHelper output)
{
    [Fact]
    public async Task KillingOneWorker_RunsHostedByTheSurvivor_FinishAsAttemptOne()
    {
        await using var cluster = await WorkerCluster.StartAsync(redis.Server);
        var agent = cluster.Client.GetAgent("TravelPlanner");

        var runs = new List<(DurableAgents.Client.DurableAgentSession Session, string RunId)>();
        for (var i = 0; i < 8; i++)
        {
            var session = agent.NewSession();
            runs.Add((session, (await agent.StartRunAsync($"Plan a 2-day trip to Ghent, variant {i}", session)).RunId));
        }

        foreach (var (_, runId) in runs)
        {
            await RunStreams.FirstTextAsync(cluster.Client, runId);
        }

        var hosts = new Dictionary<string, ServiceProcessRef>();
        foreach (var (session, runId) in runs)
        {
            hosts[runId] = new ServiceProcessRef(cluster.WorkerHosting((await agent.GetConversationAsync(session)).HostedBy!).Id);
        }

        // The Worker hosting fewer runs dies, so most runs are on the survivor (placement is uneven).
        var victim = cluster.Workers.OrderBy(w => hosts.Values.Count(h => h.Id == w.Id)).First();
        var survivors = runs.Where(r => hosts[r.RunId].Id != victim.Id).ToList();
        output.WriteLine($"{survivors.Count} of {runs.Count} runs on the surviving Worker.");
        Assert.NotEmpty(survivors);
        await victim.KillAsync();

        foreach (var (session, runId) in runs)
        {
            var chunks = await RunStreams.ReadAllAsync(cluster.Client, runId, TimeSpan.FromSeconds(120));

            Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);
            var run = await agent.GetRunAsync(session, runId);
            output.WriteLine($"{runId} on {(hosts[runId].Id == victim.Id ? "killed" : "surviving")} Worker: attempts {run!.Attempts}");
        }

        var survivor = cluster.Workers.Single(w => w.Id != victim.Id);
        foreach (var line in survivor.Output.Split('\n').Where(l => l.Contains("handed over", StringComparison.Ordinal) || l.Contains("invalid", StringComparison.OrdinalIgnoreCase) || l.Contains("failed", StringComparison.OrdinalIgnoreCase) || l.Contains("Deactivat", StringComparison.Ordinal)).Take(40))
        {
            output.WriteLine("survivor: " + line);
        }

        foreach (var (session, runId) in survivors)
        {
            var run = await agent.GetRunAsync(session, runId);
            Assert.Equal(RunStatus.Completed, run!.Status);
            Assert.Equal(1, run.Attempts);
        }
    }

    private readonly record struct ServiceProcessRef(int Id);
}

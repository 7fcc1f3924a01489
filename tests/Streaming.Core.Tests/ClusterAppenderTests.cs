using AgentStreaming.Testing;
using AgentStreaming.Streaming.Streams;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

/// <summary>The write pump on Redis Cluster: each node's batches go in flushes of their own.</summary>
public sealed class ClusterAppenderTests
{
    [Fact]
    public async Task ANodeThatDoesNotAnswer_HoldsUpOnlyItsOwnRuns()
    {
        // A cluster of its own: one primary's writes are paused, which the assembly's shared cluster must not see.
        await using var cluster = await RedisCluster.StartAsync(primaries: 3);
        // The paused node's XADDs must wait, not time out and free the flush they are in (which a re-send would follow).
        await using var connection = await ConnectionMultiplexer.ConnectAsync(cluster.ConnectionString + ",asyncTimeout=60000,syncTimeout=60000");
        var options = new Options.RedisAgentStreamingOptions { ConnectionString = cluster.ConnectionString };
        await using var handler = new RedisStreamResponseHandler(connection, Microsoft.Extensions.Options.Options.Create(options));
        Assert.True(handler.IsCluster);
        System.Net.EndPoint NodeOf(string runId) => connection.GetServer(handler.Keys.Stream(runId), flags: CommandFlags.DemandMaster).EndPoint;

        // More runs on the paused node than flushes in flight, so a shared queue would put the other node's batch behind them.
        var paused = NodeOf(TestStreams.NewRunId());
        var onPaused = Enumerable.Range(0, 10_000).Select(_ => TestStreams.NewRunId()).Where(r => NodeOf(r).Equals(paused)).Take(3).ToList();
        var elsewhere = Enumerable.Range(0, 10_000).Select(_ => TestStreams.NewRunId()).First(r => !NodeOf(r).Equals(paused));
        var pausedWriters = onPaused.Select(r => handler.CreateWriter(r)).ToList();
        var otherWriter = handler.CreateWriter(elsewhere);
        foreach (var writer in pausedWriters)
        {
            await writer.BeginAsync();
        }

        await otherWriter.BeginAsync();

        await using var admin = await ConnectionMultiplexer.ConnectAsync(cluster.ConnectionString + ",allowAdmin=true");
        var pausedServer = admin.GetServer(paused);
        await pausedServer.ExecuteAsync("CLIENT", "PAUSE", "20000", "WRITE");
        try
        {
            var held = new List<Task>();
            foreach (var writer in pausedWriters)
            {
                await writer.AppendAsync(AgentStreamEntry.ForText("held "));
                held.Add(writer.FlushAsync());
            }

            await otherWriter.AppendAsync(AgentStreamEntry.ForText("through "));
            await otherWriter.FlushAsync().WaitAsync(TimeSpan.FromSeconds(15));

            Assert.All(held, t => Assert.False(t.IsCompleted, "A write to the paused node completed while it was paused."));
            Assert.Equal(["through "], await TextsAsync(elsewhere));

            await pausedServer.ExecuteAsync("CLIENT", "UNPAUSE");
            await Task.WhenAll(held).WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            await pausedServer.ExecuteAsync("CLIENT", "UNPAUSE");
        }

        foreach (var runId in onPaused)
        {
            Assert.Equal(["held "], await TextsAsync(runId));
        }

        async Task<string[]> TextsAsync(string runId)
            => [.. (await connection.GetDatabase().StreamRangeAsync(handler.Keys.Stream(runId))).Where(e => (string?)e["type"] == "text").Select(e => (string)e["text"]!)];
    }
}

using System.Net;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

/// <summary>
/// <c>AgentStreaming:Redis:ReplicaAcks</c> on a Redis Cluster with replicas: Redis replicates asynchronously, so a
/// primary killed after it acknowledged a write, before its replica had it, loses that write when the replica takes
/// over. Here the replica is frozen (<c>SIGSTOP</c>) and its link to the primary cut while the writer sends its second
/// batch, the primary is killed, the replica is thawed and takes over.
/// </summary>
public sealed class ReplicaAcksTests
{
    [Fact]
    public async Task WithReplicaAcks_ABatchThePrimaryTookButDidNotReplicate_IsSentAgainAfterTheFailover_AndTheStreamHasNoGap()
    {
        var stream = await WriteAcrossAFailoverAsync(replicaAcks: 1);

        Assert.Equal(["one", "two", "three", string.Empty], stream.Select(c => c.Text));
        Assert.Equal([1L, 2, 3, 4], stream.Select(c => c.Sequence));
        Assert.Equal(StreamEntryKind.Done, stream[^1].Kind);
    }

    [Fact]
    public async Task WithoutReplicaAcks_TheSameFailover_LosesTheBatchThePrimaryHadAcknowledged()
    {
        // The control: the scenario above does lose an acknowledged write when nothing waits for the replica.
        // (The reader, finding the hole, says so instead of skipping it.)
        var gap = await Assert.ThrowsAsync<AgentStreamGapException>(() => WriteAcrossAFailoverAsync(replicaAcks: 0));

        Assert.Contains("missing entries 2 to 2", gap.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APrimaryWithoutTheReplicasAsked_TheFirstWaitTimesOut_TheNextWritesSkipIt_AndTheRunIsWrittenWhole()
    {
        // Its own server: the test counts the WAIT commands Redis ran.
        await using var server = await RedisServer.StartAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",allowAdmin=true");
        await using var handler = new RedisStreamResponseHandler(connection, Microsoft.Extensions.Options.Options.Create(new RedisAgentStreamingOptions
        {
            ReplicaAcks = 1,
            ReplicaAckTimeout = TimeSpan.FromMilliseconds(200),
        }));
        var runId = TestStreams.NewRunId();
        var writer = handler.CreateWriter(runId);
        await writer.BeginAsync();
        for (var i = 0; i < 20; i++)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText($"chunk {i} "));
            await writer.FlushAsync();
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());

        var stream = await handler.ReadAllAsync(runId);
        Assert.Equal(Enumerable.Range(1, 21).Select(i => (long)i), stream.Select(c => c.Sequence));
        var stats = (string)(await connection.GetServer(connection.GetEndPoints()[0]).ExecuteAsync("INFO", "commandstats"))!;
        var waits = System.Text.RegularExpressions.Regex.Match(stats, @"cmdstat_wait:calls=(\d+)");
        // The claim's wait timed out (no replica); the 21 batches after it, within RedisReplicaAcks.DegradedFor, skip it.
        Assert.Equal("1", waits.Groups[1].Value);
    }

    private static async Task<List<StreamChunk>> WriteAcrossAFailoverAsync(int replicaAcks)
    {
        await using var cluster = await RedisCluster.StartAsync(primaries: 3, replicasPerPrimary: 1);
        var configuration = cluster.Configuration();
        configuration.AllowAdmin = true;
        await using var connection = await ConnectionMultiplexer.ConnectAsync(configuration);
        await using var handler = new RedisStreamResponseHandler(connection, Microsoft.Extensions.Options.Options.Create(new RedisAgentStreamingOptions
        {
            Configuration = cluster.Configuration(),
            ReplicaAcks = replicaAcks,
            // Long enough that the cut-off replica's wait is still going when its primary dies.
            ReplicaAckTimeout = TimeSpan.FromSeconds(10),
            WriteRetryTimeout = TimeSpan.FromSeconds(60),
        }));
        // The test looks on its own connection: a WAIT holds the writer's connection to its primary until it returns,
        // and a command sent behind it would wait for it.
        await using var observer = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration());
        var runId = TestStreams.NewRunId();
        var key = new StreamKeys(new RedisAgentStreamingOptions().KeyPrefix).Stream(runId);
        var database = observer.GetDatabase();
        var primary = connection.GetServer(key, flags: CommandFlags.DemandMaster);
        var primaryId = primary.ClusterConfiguration!.Nodes.Single(n => n.EndPoint!.Equals(primary.EndPoint)).NodeId;
        var replicaEndPoint = (IPEndPoint)primary.ClusterConfiguration.Nodes.Single(n => n.ParentNodeId == primaryId).EndPoint!;
        var replica = cluster.Node(replicaEndPoint.Port);
        var old = cluster.Node(((IPEndPoint)primary.EndPoint!).Port);

        var writer = handler.CreateWriter(runId);
        await writer.BeginAsync();
        await writer.AppendAsync(AgentStreamEntry.ForText("one"));
        await writer.FlushAsync();
        await Poll.UntilAsync(
            async () => (await database.StreamRangeAsync(key, flags: CommandFlags.DemandReplica)).Length == 1,
            TimeSpan.FromSeconds(10),
            () => "the replica did not get the first entry");

        // Frozen, and cut off from its primary (a frozen replica's socket would still take the bytes in): the next write
        // stays on the primary alone.
        await SignalAsync(replica, "STOP");
        Task flushed;
        try
        {
            await primary.ExecuteAsync("CLIENT", "KILL", "TYPE", "replica");
            await writer.AppendAsync(AgentStreamEntry.ForText("two"));
            flushed = writer.FlushAsync();
            await Poll.UntilAsync(
                async () => (await database.StreamRangeAsync(key)).Length == 2,
                TimeSpan.FromSeconds(10),
                () => "the primary did not get the second entry");
            if (replicaAcks > 0)
            {
                Assert.False(flushed.IsCompleted, "the batch counted as written before its replica had it");
            }
            else
            {
                await flushed.WaitAsync(TimeSpan.FromSeconds(10));
            }

            await old.KillAsync();
        }
        finally
        {
            await SignalAsync(replica, "CONT");
        }

        await connection.GetServer(replicaEndPoint).ExecuteAsync("CLUSTER", "FAILOVER", "TAKEOVER");
        await cluster.WaitForStateOkAsync(TimeSpan.FromSeconds(60));
        // Back as the new primary's replica, so the waits after the failover are answered.
        await old.RestartAsync();
        await flushed.WaitAsync(TimeSpan.FromSeconds(60));
        await writer.AppendAsync(AgentStreamEntry.ForText("three"));
        await writer.CompleteAsync(AgentStreamEntry.ForDone()).WaitAsync(TimeSpan.FromSeconds(60));
        return await handler.ReadAllAsync(runId, timeout: TimeSpan.FromSeconds(30));
    }

    private static async Task SignalAsync(RedisServer node, string signal)
    {
        var pid = node.ProcessId ?? throw new InvalidOperationException($"The node on port {node.Port} is not running.");
        var result = await ProcessExits.RunAsync("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        Assert.Equal(0, result.ExitCode);
    }
}

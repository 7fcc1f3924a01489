using System.Diagnostics;
using System.Net;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;
using StackExchange.Redis;

namespace AgentStreaming.Failover.Tests;

/// <summary>
/// The whole system on a real Redis Cluster with replicas (3 primaries, 3 replicas): Orleans clustering, grain storage
/// and reminders, the run index, leases, histories and the streams; and a primary's <c>kill -9</c> under a live run.
/// </summary>
public sealed class RedisClusterFailoverTests(ITestOutputHelper output)
{
    /// <summary>3 primaries and 3 replicas, plain or speaking only TLS (Workers then get the CA as <c>Redis:CaCertificate</c>).</summary>
    public static TheoryData<string> Topologies => ["cluster", "cluster over TLS"];

    private static Task<RedisCluster> StartRedisAsync(string topology)
        => RedisCluster.StartAsync(primaries: 3, replicasPerPrimary: 1, tls: topology.EndsWith("TLS", StringComparison.Ordinal));

    [Theory]
    [MemberData(nameof(Topologies))]
    public async Task OnACluster_AConversationOfTwoTurnsThroughAWorker_AnswersBoth_KeepsTheHistory_AndTheWorkerIsHealthy(string topology)
    {
        // Over TLS the nodes speak nothing else, and the Worker is configured only as a deployment would be: the
        // connection string (ssl=true,sslHost=localhost) and the CA to trust (Redis__CaCertificate).
        await using var redis = await StartRedisAsync(topology);
        await using var cluster = await WorkerCluster.StartAsync(redis, workers: 1, tokensPerSecond: 200);
        using var http = new HttpClient { BaseAddress = cluster.UrlOf(cluster.Workers[0]) };
        using (var health = await http.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        var agent = cluster.Client.GetAgent("TravelPlanner");
        var session = agent.NewSession();
        var first = await agent.StartRunAsync("Plan 1 day in Ghent", session);
        var firstChunks = await RunStreams.ReadAllAsync(cluster.Client, first.RunId, TimeSpan.FromSeconds(60));
        var second = await agent.StartRunAsync("Now make it 2 days", session);
        // Also read live through the Worker's HTTP API: its reader waits on a Redis connection of its own.
        using var streamRequest = new HttpRequestMessage(HttpMethod.Get, $"/agents/TravelPlanner/runs/{second.RunId}/stream");
        streamRequest.Headers.Accept.Add(new System.Net.Http.Headers.MediaTypeWithQualityHeaderValue("text/plain"));
        var throughWorker = http.SendAsync(streamRequest);
        var secondChunks = await RunStreams.ReadAllAsync(cluster.Client, second.RunId, TimeSpan.FromSeconds(60));
        using var streamed = await throughWorker.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);
        Assert.Equal(StreamTranscript.Visible(secondChunks), await streamed.Content.ReadAsStringAsync());

        Assert.Equal(DurableRunChunkKind.Done, firstChunks[^1].Kind);
        Assert.Equal(DurableRunChunkKind.Done, secondChunks[^1].Kind);
        var conversation = await agent.GetConversationAsync(session);
        Assert.Equal([first.RunId, first.RunId, second.RunId, second.RunId], conversation.History.Select(m => m.RunId));
        Assert.Equal(StreamTranscript.Visible(secondChunks), conversation.History[^1].Text);
        Assert.All(conversation.Runs, r => Assert.Equal(RunStatus.Completed, r.Status));
        var listed = Assert.Single(await cluster.Client.ListConversationsAsync(10));
        Assert.Equal(session.ConversationId, listed.ConversationId);
        Assert.Equal(2, listed.Turns);

        // Every part keeps its keys on the cluster: Orleans' membership and reminders, the run leases, history, streams.
        var adminOptions = redis.Configuration();
        adminOptions.AllowAdmin = true;
        await using var admin = await ConnectionMultiplexer.ConnectAsync(adminOptions);
        var primaries = admin.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToList();
        Assert.Equal(3, primaries.Count);
        var keys = primaries.SelectMany(p => p.Keys(pageSize: 1000).Select(k => k.ToString())).ToList();
        output.WriteLine(string.Join('\n', primaries.Select(p => $"{p.EndPoint}: {p.DatabaseSize()} keys").Concat(keys.Order())));
        Assert.Contains(keys, k => k.Contains("/members/", StringComparison.Ordinal)); // Orleans clustering
        Assert.Contains(keys, k => k.Contains("reminders", StringComparison.Ordinal)); // Orleans reminders
        Assert.Contains(keys, k => k.Contains(":history:" + session, StringComparison.Ordinal));
        Assert.Contains("agent-stream:" + second.RunId, keys);
        Assert.Contains("agent-run:" + second.RunId, keys);
    }

    [Theory]
    [MemberData(nameof(Topologies))]
    public async Task OnACluster_KillingThePrimaryHoldingALiveRunsStream_TheRunEnds_ReadersSeeAContiguousSequence_NewRunsStartAfterTheFailover(string topology)
    {
        await using var redis = await StartRedisAsync(topology);
        await using var cluster = await WorkerCluster.StartAsync(redis, workers: 2, tokensPerSecond: 25);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration());
        var agent = cluster.Client.GetAgent("TravelPlanner");
        var session = agent.NewSession();
        var run = await agent.StartRunAsync("Plan a 3-day trip to Porto with food and museums", session);
        var readers = new[] { RunWatcher.Start(cluster.Client, run.RunId), RunWatcher.Start(cluster.Client, run.RunId) };
        await Task.WhenAll(readers.Select(r => r.TenTexts)).WaitAsync(TimeSpan.FromSeconds(60));

        var owner = (IPEndPoint)connection.GetServer((RedisKey)("agent-stream:" + run.RunId), flags: CommandFlags.DemandMaster).EndPoint!;
        var killedAt = Stopwatch.GetTimestamp();
        await redis.Node(owner.Port).KillAsync();

        // The failover time: until the Worker's readiness check sees every slot served again.
        using var http = new HttpClient { BaseAddress = cluster.UrlOf(cluster.Workers[0]), Timeout = TimeSpan.FromSeconds(5) };
        await WaitUntilHealthyAsync(http, TimeSpan.FromSeconds(60));
        var failover = Stopwatch.GetElapsedTime(killedAt);
        // As a client told 503 + Retry-After would: a call that reached Redis mid-failover is tried again.
        RunHandle? next = null;
        while (next is null)
        {
            try
            {
                next = await agent.StartRunAsync("And a day trip to Braga", agent.NewSession());
            }
            catch (Exception ex) when (DurableAgentsFailures.IsUnavailable(ex) && Stopwatch.GetElapsedTime(killedAt) < TimeSpan.FromSeconds(60))
            {
                output.WriteLine($"start after the failover: unavailable ({ex.GetType().Name}), trying again");
                await Task.Delay(DurableAgentsFailures.RetryAfter);
            }
        }

        await RunStreams.FirstTextAsync(cluster.Client, next.RunId);
        var nextStarted = Stopwatch.GetElapsedTime(killedAt);
        output.WriteLine($"{topology}: kill -9 of the stream's primary → Worker healthy: {failover.TotalSeconds:0.0} s; a new run's first text: {nextStarted.TotalSeconds:0.0} s");
        Assert.True(failover < TimeSpan.FromSeconds(30), $"The failover took {failover.TotalSeconds:0.0} s.");

        await Task.WhenAll(readers.Select(r => r.Reading)).WaitAsync(TimeSpan.FromSeconds(120));
        var conversation = await agent.GetConversationAsync(session);
        var info = Assert.Single(conversation.Runs);
        Assert.Equal(RunStatus.Completed, info.Status);
        var answer = Assert.Single(conversation.History, m => m.Role == "assistant" && m.RunId == run.RunId);
        foreach (var reader in readers)
        {
            var chunks = reader.Chunks;
            Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);
            Assert.Single(chunks, c => c.Kind == DurableRunChunkKind.Done);
            // One contiguous sequence: from 1, each entry the next number, except where a new claim (a reset, or the
            // same attempt's writer claiming again) opens its range, the next multiple of 1,000,000 (docs/architecture.md).
            Assert.Equal(1, chunks[0].Sequence);
            for (var i = 1; i < chunks.Count; i++)
            {
                var (previous, sequence) = (chunks[i - 1].Sequence, chunks[i].Sequence);
                Assert.True(
                    sequence == previous + 1 || (sequence > previous && sequence % 1_000_000 <= 1),
                    $"Entry {i} has sequence {sequence} after {previous} ({chunks[i].Kind}).");
            }

            Assert.Equal(answer.Text, StreamTranscript.Visible(chunks));
        }

        output.WriteLine($"attempts: {info.Attempts}; entries: {readers[0].Chunks.Count}");
    }

    private static async Task WaitUntilHealthyAsync(HttpClient http, TimeSpan timeout)
    {
        var waited = Stopwatch.StartNew();
        var last = "no answer";
        while (waited.Elapsed < timeout)
        {
            try
            {
                using var response = await http.GetAsync("/health");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                last = ex.Message;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"The Worker was not healthy within {timeout}: {last}");
    }
}

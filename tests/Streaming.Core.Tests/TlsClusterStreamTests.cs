using System.Net;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

/// <summary>
/// Streams on a 3-primary Redis Cluster that speaks only TLS (clients, cluster bus, replication), with a private CA
/// trusted through <see cref="ConfigurationOptions.TrustIssuer(string)"/>: the shared connection follows the slot map to
/// the TLS ports the nodes announce, and the live tail opens its own connection with the same TLS settings.
/// </summary>
public sealed class TlsClusterStreamTests
{
    [Fact]
    public async Task RunsOnEveryPrimary_ReadLiveAndBack_EachAContiguousSequenceToItsTerminalEntry()
    {
        await using var cluster = await RedisCluster.StartAsync(primaries: 3, tls: true);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration());
        await using var handler = new RedisStreamResponseHandler(connection, Microsoft.Extensions.Options.Options.Create(
            new RedisAgentStreamingOptions { Configuration = cluster.Configuration() }));

        // Two runs whose streams live on each primary: the writes and reads cross slots of every node.
        var keys = new StreamKeys(new RedisAgentStreamingOptions().KeyPrefix);
        var runs = Enumerable.Range(0, 1000).Select(_ => TestStreams.NewRunId())
            .GroupBy(run => ((IPEndPoint)connection.GetServer(keys.Stream(run), flags: CommandFlags.DemandMaster).EndPoint!).Port)
            .SelectMany(owner => owner.Take(2))
            .ToList();
        Assert.Equal(6, runs.Count);

        // Readers first, so they wait on the live tail (its connection of its own, over TLS) for every entry.
        var live = runs.Select(run => handler.ReadAllAsync(run)).ToList();
        var texts = Enumerable.Range(0, 40).Select(i => $"chunk {i} ").ToList();
        await Task.WhenAll(runs.Select((run, i) => handler.WriteAsync(run, texts, i % 2 == 0 ? AgentStreamEntry.ForDone() : AgentStreamEntry.ForError("failed on purpose"))));

        for (var i = 0; i < runs.Count; i++)
        {
            var read = await live[i];
            Assert.Equal(Enumerable.Range(1, texts.Count + 1).Select(s => (long)s), read.Select(c => c.Sequence));
            Assert.Equal(string.Concat(texts), StreamTranscript.Visible(read));
            Assert.Equal(i % 2 == 0 ? StreamEntryKind.Done : StreamEntryKind.Error, read[^1].Kind);
            Assert.Single(read, c => c.IsTerminal);
            Assert.Equal(read, await handler.ReadAllAsync(runs[i]));
            Assert.Equal(read.Skip(texts.Count / 2), await handler.ReadAllAsync(runs[i], read[(texts.Count / 2) - 1].EntryId));
        }
    }
}

using AgentStreaming.Streaming.Streams;
using AgentStreaming.Streaming.Streams.Tails;
using CsCheck;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

/// <summary>
/// The delivery guarantee as a property: any number of readers of one run, in one or two processes, joining at any
/// moment from the start or from another reader's cursor, while the writer appends at any pace and the shared tail
/// is forced to reconnect, each see every entry after their start point exactly once, in order, up to exactly one
/// terminal entry, with the stream's text.
/// </summary>
public abstract class DeliveryPropertyTests(IRedisBackend redis)
{
    private enum Join
    {
        BeforeFirstEntry,
        MidStream,
        AfterTerminal,
    }

    private sealed record ReaderPlan(Join Join, double At, bool FromCursor, int Process)
    {
        public override string ToString() => $"{Join}@{At:0.##}{(FromCursor ? " cursor" : string.Empty)} p{Process}";
    }

    private sealed record Plan(ReaderPlan[] Readers, int Entries, int BatchSize, bool Paced, double? ReconnectAt)
    {
        public override string ToString()
            => $"{Readers.Length} readers [{string.Join(", ", Readers.Select(r => r.ToString()))}], {Entries} entries in batches of {BatchSize}{(Paced ? ", paced" : string.Empty)}{(ReconnectAt is { } r ? $", reconnect at {r:0.##}" : string.Empty)}";
    }

    private static Gen<Plan> Plans(int processes) =>
        Gen.Select(
            Gen.Select(Gen.Int[0, 2], Gen.Double[0, 1], Gen.Bool, Gen.Int[0, processes - 1],
                (join, at, fromCursor, process) => new ReaderPlan((Join)join, at, fromCursor, process)).Array[1, 50],
            Gen.Int[1, 400],
            Gen.Int[1, 64],
            Gen.Bool,
            Gen.Double[-0.5, 1].Select(x => x < 0 ? (double?)null : x),
            (readers, entries, batch, paced, reconnect) => new Plan(readers, entries, batch, paced, reconnect));

    [Fact]
    public Task EveryReader_InOneProcess_SeesAContiguousSequenceToOneTerminal() => CheckAsync(processes: 1, iterations: 25);

    [Fact]
    public Task EveryReader_InTwoProcesses_SeesAContiguousSequenceToOneTerminal() => CheckAsync(processes: 2, iterations: 25);

    private async Task CheckAsync(int processes, int iterations)
    {
        // Each "process" has its own connection and so its own shared tail, as two Worker processes would.
        await using var second = await redis.ConnectAsync();
        await using var first = redis.CreateHandler();
        await using var other = redis.CreateHandler(multiplexer: second);
        RedisStreamResponseHandler[] handlers = processes == 1 ? [first] : [first, other];
        await Plans(processes).SampleAsync(plan => RunAsync(plan, handlers), iter: iterations, threads: 1);
        Assert.All(handlers, h => Assert.Equal(redis is ClusterFixture, h.Tail is ClusterStreamTail));
    }

    private async Task RunAsync(Plan plan, RedisStreamResponseHandler[] handlers)
    {
        var runId = TestStreams.NewRunId();
        var seen = plan.Readers.Select(_ => new List<string>()).ToArray();
        var reads = new Task<List<StreamChunk>>?[plan.Readers.Length];
        var cursors = new string?[plan.Readers.Length];

        void Start(int i)
        {
            var reader = plan.Readers[i];
            string? cursor = null;
            if (reader.FromCursor)
            {
                // The cursor another reader holds right now (the latest entry it received).
                for (var j = 0; j < reads.Length && cursor is null; j++)
                {
                    if (j != i && reads[j] is not null)
                    {
                        lock (seen[j])
                        {
                            cursor = seen[j].Count > 0 ? seen[j][(int)(reader.At * (seen[j].Count - 1))] : null;
                        }
                    }
                }
            }

            cursors[i] = cursor;
            var handler = handlers[reader.Process];
            var log = seen[i];
            reads[i] = Task.Run(async () =>
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                var chunks = new List<StreamChunk>();
                await foreach (var chunk in handler.ReadStreamAsync(runId, cursor, timeout.Token))
                {
                    chunks.Add(chunk);
                    lock (log)
                    {
                        log.Add(chunk.EntryId);
                    }
                }

                return chunks;
            });
        }

        for (var i = 0; i < plan.Readers.Length; i++)
        {
            if (plan.Readers[i].Join == Join.BeforeFirstEntry)
            {
                Start(i);
            }
        }

        var writer = handlers[0].CreateWriter(runId);
        var reconnectAt = plan.ReconnectAt is { } r ? (int)(r * plan.Entries) : -1;
        for (var k = 0; k < plan.Entries; k++)
        {
            for (var i = 0; i < plan.Readers.Length; i++)
            {
                if (plan.Readers[i].Join == Join.MidStream && (int)(plan.Readers[i].At * plan.Entries) == k)
                {
                    Start(i);
                }
            }

            if (k == reconnectAt)
            {
                await redis.KillTailConnectionsAsync();
            }

            await writer.AppendAsync(AgentStreamEntry.ForText($"{k}:{runId[..4]} "));
            if ((k + 1) % plan.BatchSize == 0)
            {
                await writer.FlushAsync();
                if (plan.Paced)
                {
                    // About a thousand entries a second with small batches: the pace readers join into.
                    await Task.Delay(1);
                }
            }
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        for (var i = 0; i < plan.Readers.Length; i++)
        {
            if (reads[i] is null)
            {
                Start(i);
            }
        }

        var results = await Task.WhenAll(reads.Select(t => t!));
        var stored = (await redis.Database.StreamRangeAsync(handlers[0].Keys.Stream(runId)))
            .Select(e => (Id: e.Id.ToString(), Sequence: (long)e["sequence"], Text: (string)e["text"]!, Type: (string)e["type"]!))
            .ToArray();
        Assert.Equal(plan.Entries + 1, stored.Length);
        Assert.Equal(Enumerable.Range(1, plan.Entries + 1).Select(i => (long)i), stored.Select(e => e.Sequence));

        for (var i = 0; i < results.Length; i++)
        {
            var from = cursors[i] is { } c ? Array.FindIndex(stored, e => e.Id == c) + 1 : 0;
            var expected = stored[from..];
            var actual = results[i].Select(x => (Id: x.EntryId, x.Sequence, x.Text, Type: x.Kind.ToWireName())).ToArray();
            if (!expected.SequenceEqual(actual))
            {
                var missing = expected.Select(e => e.Sequence).Except(actual.Select(a => a.Sequence)).ToArray();
                Assert.Fail($"[{redis.Name}] reader {i} ({plan.Readers[i]}, cursor {cursors[i] ?? "start"}) got {actual.Length} entries, expected {expected.Length}; missing sequences {string.Join(",", missing.Take(30))}.");
            }

            if (expected.Length == 0)
            {
                // Its cursor was the terminal entry itself: nothing follows it.
                Assert.Equal(cursors[i], stored[^1].Id);
                continue;
            }

            Assert.Single(results[i], x => x.IsTerminal);
            Assert.True(results[i][^1].IsTerminal);
        }
    }
}

/// <summary>The delivery property against a single redis-server.</summary>
public sealed class SingleServerDeliveryPropertyTests(RedisFixture redis) : DeliveryPropertyTests(redis);

/// <summary>The delivery property against a 3-primary Redis Cluster.</summary>
public sealed class ClusterDeliveryPropertyTests(ClusterFixture redis) : DeliveryPropertyTests(redis);

/// <summary>The same against a single redis-server, read by the blocking tail.</summary>
public sealed class BlockingReadDeliveryPropertyTests(RedisFixture redis) : DeliveryPropertyTests(new BlockingReadBackend(redis));

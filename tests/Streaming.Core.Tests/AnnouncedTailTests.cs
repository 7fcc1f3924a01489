using AgentStreaming.Testing;
using AgentStreaming.Streaming.Streams;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

/// <summary>
/// The announced tails (the single server's and Redis Cluster's), whose live entries arrive inside the writers'
/// announcements, or in memory from the process's own write pump: every byte of every field survives the trip, whatever
/// it holds, and entries too large to announce are read from Redis.
/// </summary>
public abstract class AnnouncedTailTests(IRedisBackend redis)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task LiveReader_GetsEveryFieldExactly_WhateverTheTextHolds(bool inAnotherProcess)
    {
        // In another process, the entries travel in the announcements; in the writer's, they are handed over in memory.
        await using var other = inAnotherProcess ? await redis.ConnectAsync() : null;
        await using var handler = redis.CreateHandler();
        await using var readerHandler = other is null ? null : redis.CreateHandler(multiplexer: other);
        var reader = readerHandler ?? handler;
        var runId = TestStreams.NewRunId();
        var writer = handler.CreateWriter(runId, traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        await writer.BeginAsync();
        var reading = reader.ReadAllAsync(runId);
        await StreamReaderTests.WaitUntilAsync(() => reader.LiveReaderCount == 1);

        string[] texts = ["plain ", "two\nlines ", "\n", " spaces  and\ttabs ", "3 1 text 0 5\n", "€ ünïcödé 🚀 ", "", new string('x', 5000), "after the big one"];
        foreach (var text in texts)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText(text));
            await writer.FlushAsync();
        }

        await writer.AppendAsync(new AgentStreamEntry(StreamEntryKind.ToolCall, string.Empty, Data: "{\"name\":\"f\",\n\"args\":\"a b\"}"));
        await writer.FlushAsync();
        await writer.CompleteAsync(AgentStreamEntry.ForError("failed:\nline two"));
        var chunks = await reading;

        // The same entries a catch-up read from Redis returns.
        var stored = await reader.ReadAllAsync(runId, cursor: null);
        Assert.Equal(stored, chunks);
        Assert.Equal(texts, chunks.Where(c => c.Kind == StreamEntryKind.Text).Select(c => c.Text));
        Assert.Equal("{\"name\":\"f\",\n\"args\":\"a b\"}", chunks.Single(c => c.Kind == StreamEntryKind.ToolCall).Data);
        Assert.Equal("failed:\nline two", chunks[^1].Error);
        Assert.Equal(Enumerable.Range(1, chunks.Count).Select(i => (long)i), chunks.Select(c => c.Sequence));
    }

    [Fact]
    public async Task LiveReader_InTheWritersProcess_IsHandedTheEntriesInMemory_AndTheEchoIsSkipped()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var writer = handler.CreateWriter(runId);
        await writer.BeginAsync();
        var reading = handler.ReadAllAsync(runId);
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);
        var tail = handler.Tail;
        // Subscribed (on Redis Cluster to the run's own channel, until this process hands over its first batch of it).
        await StreamReaderTests.WaitUntilAsync(() => Announced(tail).IsListening(handler.Keys.Stream(runId)));

        for (var i = 0; i < 5; i++)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText($"{i} "));
            await writer.FlushAsync();
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        var chunks = await reading;

        Assert.Equal("0 1 2 3 4 ", StreamTranscript.Visible(chunks));
        Assert.Equal(await handler.ReadAllAsync(runId), chunks);
        Assert.True(Announced(tail).HandedOver >= 6, $"{Announced(tail).HandedOver} flushes handed over in memory.");

        // Redis still publishes them for other processes; on a single server, where every process subscribes to the
        // one changes channel, this one's tail recognises its own and skips them (on Redis Cluster the tail stops
        // subscribing to a key written here: ClusterTailSubscriptionTests).
        if (redis is not ClusterFixture)
        {
            await StreamReaderTests.WaitUntilAsync(() => Announced(tail).EchoesSkipped >= 1);
        }
    }

    [Fact]
    public async Task LiveReader_InAnotherProcess_TakesSmallBatchesFromTheirAnnouncements_WithoutReadingTheKey()
    {
        // The sweep is an hour away: a read would come only from a batch announced without its entries.
        await using var other = await redis.ConnectAsync();
        await using var handler = redis.CreateHandler();
        await using var readerHandler = redis.CreateHandler(o => o.TailBlockTimeout = TimeSpan.FromHours(1), multiplexer: other);
        var runId = TestStreams.NewRunId();
        var writer = handler.CreateWriter(runId);
        await writer.BeginAsync();
        var reading = readerHandler.ReadAllAsync(runId);
        await StreamReaderTests.WaitUntilAsync(() => readerHandler.LiveReaderCount == 1);
        await StreamReaderTests.WaitUntilAsync(() => Announced(readerHandler.Tail).IsListening(readerHandler.Keys.Stream(runId)));
        var readsBefore = Announced(readerHandler.Tail).KeyReads;

        for (var i = 0; i < 20; i++)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText($"{i} "));
            await writer.FlushAsync();
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        var chunks = await reading;

        Assert.Equal(string.Concat(Enumerable.Range(0, 20).Select(i => $"{i} ")), StreamTranscript.Visible(chunks));
        // 21 batches, none read from Redis (the reads that joined the tail, two at most, may still have been under way).
        Assert.InRange(Announced(readerHandler.Tail).KeyReads - readsBefore, 0, 2);
    }

    private static AgentStreaming.Streaming.Streams.Tails.IAnnouncedTail Announced(AgentStreaming.Streaming.Streams.Tails.IStreamTail tail)
        => Assert.IsAssignableFrom<AgentStreaming.Streaming.Streams.Tails.IAnnouncedTail>(tail);

    [Fact]
    public async Task LiveReaders_OfManyRuns_GetTheirRunsEntriesOnly_InOrder()
    {
        await using var handler = redis.CreateHandler();
        var runs = Enumerable.Range(0, 40).Select(_ => TestStreams.NewRunId()).ToList();
        var writers = runs.Select(r => handler.CreateWriter(r)).ToList();
        foreach (var writer in writers)
        {
            await writer.BeginAsync();
        }

        var readings = runs.Select(r => handler.ReadAllAsync(r)).ToList();
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == runs.Count);
        for (var i = 0; i < 30; i++)
        {
            // Appended together, so one append call carries many runs' batches.
            for (var w = 0; w < writers.Count; w++)
            {
                await writers[w].AppendAsync(AgentStreamEntry.ForText($"{runs[w]}:{i} "));
            }
        }

        await Task.WhenAll(writers.Select(w => w.CompleteAsync(AgentStreamEntry.ForDone())));
        var results = await Task.WhenAll(readings);
        for (var w = 0; w < runs.Count; w++)
        {
            Assert.Equal(Enumerable.Range(0, 30).Select(i => $"{runs[w]}:{i} "), results[w].Where(c => c.Kind == StreamEntryKind.Text).Select(c => c.Text));
            Assert.Equal(StreamEntryKind.Done, results[w][^1].Kind);
        }
    }
    [Theory]
    [InlineData("not an announcement")]
    [InlineData("v1 1700000000000\nagent-stream:{x} 0-0 2 1\n1700000000000-0 0 text 0 5\nhello")]
    [InlineData("v1 1700000000000\nagent-stream:{x} 0-0 1 1\n1700000000000-0 0 text 0 50\nshort")]
    public async Task MalformedAnnouncement_MakesTheTailReadEveryKey_SoNothingWaitsForTheSweep(string malformed)
    {
        // The sweep and the reader's idle check are an hour away: only the fallback for an announcement the tail does
        // not understand can deliver in time. The writer is another process's, so this process's tail listens for it.
        await using var other = await redis.ConnectAsync();
        await using var handler = redis.CreateHandler(o => { o.TailBlockTimeout = TimeSpan.FromHours(1); o.IdleCheckInterval = TimeSpan.FromHours(1); });
        await using var writerHandler = redis.CreateHandler(multiplexer: other);
        var runId = TestStreams.NewRunId();
        var writer = writerHandler.CreateWriter(runId);
        await writer.BeginAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var chunks = new List<StreamChunk>();
        var reading = Task.Run(async () =>
        {
            await foreach (var chunk in handler.ReadStreamAsync(runId, cancellationToken: cts.Token))
            {
                lock (chunks)
                {
                    chunks.Add(chunk);
                    if (chunks.Count == 2)
                    {
                        return;
                    }
                }
            }
        });

        // Live first, so the entry below reaches the reader through its announcement, not the read that joins the tail.
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);
        await writer.AppendAsync(AgentStreamEntry.ForText("announced "));
        await writer.FlushAsync();
        await StreamReaderTests.WaitUntilAsync(() => { lock (chunks) { return chunks.Count == 1; } });

        // An entry that reaches the stream without an announcement (as another writer's would), then a malformed one.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        await redis.Database.StreamAddAsync(handler.Keys.Stream(runId), [new("text", "unannounced "), new("sequence", 1), new("timestamp", now), new("type", "text"), new("attempt", 1)]);
        await (redis is ClusterFixture
            ? redis.Database.PublishAsync(RedisChannel.Sharded("{" + handler.Keys.Stream(runId) + "}:notify"), malformed)
            : redis.Database.PublishAsync(RedisChannel.Literal(handler.Keys.Changes), malformed));

        await reading;
        Assert.Equal(["announced ", "unannounced "], chunks.Select(c => c.Text));
    }
}

public sealed class SingleServerAnnouncedTailTests(RedisFixture redis) : AnnouncedTailTests(redis);

public sealed class ClusterAnnouncedTailTests(ClusterFixture redis) : AnnouncedTailTests(redis);

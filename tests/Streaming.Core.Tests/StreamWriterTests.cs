using AgentStreaming.Testing;
using AgentStreaming.Streaming.Streams;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

public abstract class StreamWriterTests(IRedisBackend redis)
{
    [Fact]
    public async Task AppendAsync_ManyChunks_WritesInOrderWithSequencesAndOriginalSampleFields()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var texts = Enumerable.Range(0, 1000).Select(i => $"chunk {i} ").ToArray();

        await handler.WriteAsync(runId, texts);

        var raw = await redis.Database.StreamRangeAsync(handler.Keys.Stream(runId));
        Assert.Equal(1001, raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            Assert.Equal(i + 1, (long)raw[i]["sequence"]);
            Assert.Equal($"{i + 1}-0", raw[i].Id.ToString());
            Assert.Equal(1, (int)raw[i]["attempt"]);
            Assert.True((long)raw[i]["timestamp"] > 1_700_000_000_000);
        }

        Assert.Equal(texts, raw[..1000].Select(e => (string)e["text"]!).ToArray());
        Assert.Equal("text", (string?)raw[0]["type"]);
        var done = raw[^1];
        Assert.Equal("done", (string?)done["type"]);
        Assert.Equal("true", (string?)done["done"]);
        Assert.Equal(string.Empty, (string?)done["text"]);
    }

    [Fact]
    public async Task CompleteAsync_Error_WritesErrorEntryAndRefusesFurtherWrites()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        await handler.WriteAsync(runId, ["partial"], AgentStreamEntry.ForError("The model failed: quota exceeded."));

        var chunks = await handler.ReadAllAsync(runId);
        Assert.Equal([StreamEntryKind.Text, StreamEntryKind.Error], chunks.Select(c => c.Kind));
        Assert.Equal("The model failed: quota exceeded.", chunks[^1].Error);
        Assert.True(chunks[^1].IsTerminal);

        var late = handler.CreateWriter(runId, attempt: 1);
        await late.AppendAsync(AgentStreamEntry.ForText("too late"));
        var ex = await Assert.ThrowsAsync<AgentStreamWriteException>(() => late.FlushAsync());
        Assert.Equal(AgentStreamWriteFailure.AlreadyTerminated, ex.Failure);
        Assert.Equal(2, await redis.Database.StreamLengthAsync(handler.Keys.Stream(runId)));
    }

    [Fact]
    public async Task CompleteAsync_Cancelled_CarriesErrorFieldSoOriginalReadersStop()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        await handler.WriteAsync(runId, ["a", "b"], AgentStreamEntry.ForCancelled("Cancelled by the user."));

        var raw = await redis.Database.StreamRangeAsync(handler.Keys.Stream(runId));
        Assert.Equal("cancelled", (string?)raw[^1]["type"]);
        Assert.Equal("Cancelled by the user.", (string?)raw[^1]["error"]);
        var chunks = await handler.ReadAllAsync(runId);
        Assert.Equal(StreamEntryKind.Cancelled, chunks[^1].Kind);
    }

    [Fact]
    public async Task AppendAsync_AfterTerminalQueued_ThrowsInvalidOperation()
    {
        await using var handler = redis.CreateHandler();
        var writer = handler.CreateWriter(TestStreams.NewRunId());
        await writer.AppendAsync(AgentStreamEntry.ForDone());
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await writer.AppendAsync(AgentStreamEntry.ForText("x")));
    }

    [Fact]
    public async Task NewAttempt_AfterPartialText_WritesResetTrimsTheAbandonedEntriesFencesOldAttemptAndKeepsSequenceIncreasing()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var first = handler.CreateWriter(runId, attempt: 1);
        await first.AppendAsync(AgentStreamEntry.ForText("Day 1: "));
        await first.AppendAsync(AgentStreamEntry.ForText("Tem"));
        await first.FlushAsync();

        var second = handler.CreateWriter(runId, attempt: 2);
        await second.BeginAsync();

        await first.AppendAsync(AgentStreamEntry.ForText("ples"));
        var fenced = await Assert.ThrowsAsync<AgentStreamWriteException>(() => first.FlushAsync());
        Assert.Equal(AgentStreamWriteFailure.Fenced, fenced.Failure);

        await second.AppendAsync(AgentStreamEntry.ForText("Day 1: Temples"));
        await second.CompleteAsync(AgentStreamEntry.ForDone());

        var chunks = await handler.ReadAllAsync(runId);
        Assert.Equal([StreamEntryKind.Reset, StreamEntryKind.Text, StreamEntryKind.Done], chunks.Select(c => c.Kind));
        Assert.Equal([2, 2, 2], chunks.Select(c => c.Attempt));
        Assert.Equal([1_000_000L, 1_000_001, 1_000_002], chunks.Select(c => c.Sequence));
        Assert.Equal("Day 1: Temples", StreamTranscript.Visible(chunks));
    }

    [Fact]
    public async Task NewAttempt_WhenEarlierAttemptWroteNothing_WritesNoReset()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        await handler.CreateWriter(runId, attempt: 1).BeginAsync();
        await handler.WriteAsync(runId, ["hello"], attempt: 2);

        var chunks = await handler.ReadAllAsync(runId);
        Assert.Equal([StreamEntryKind.Text, StreamEntryKind.Done], chunks.Select(c => c.Kind));
        Assert.All(chunks, c => Assert.Equal(2, c.Attempt));
    }

    [Fact]
    public async Task Writes_SetTheTtl_RefreshItAtLeastEveryEighthOfIt_AndOnTheTerminalEntry()
    {
        await using var handler = redis.CreateHandler(o => o.StreamTtl = TimeSpan.FromMinutes(3));
        var runId = TestStreams.NewRunId();
        var key = handler.Keys.Stream(runId);
        var writer = await handler.WriteLiveAsync(runId, "a");

        var ttl = await redis.Database.KeyTimeToLiveAsync(key);
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(2.9), TimeSpan.FromMinutes(3));

        // Within an eighth of the TTL (22.5 s) of the last refresh, a batch leaves the TTL alone (two commands fewer
        // per batch); the terminal entry refreshes it, so a finished stream lives its full TTL.
        await redis.Database.KeyExpireAsync(key, TimeSpan.FromSeconds(20));
        await writer.AppendAsync(AgentStreamEntry.ForText("b"));
        await writer.FlushAsync();
        ttl = await redis.Database.KeyTimeToLiveAsync(key);
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20));

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        ttl = await redis.Database.KeyTimeToLiveAsync(key);
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(2.9), TimeSpan.FromMinutes(3));
        var metaTtl = await redis.Database.KeyTimeToLiveAsync(handler.Keys.Meta(runId));
        Assert.NotNull(metaTtl);
        Assert.True(metaTtl > ttl, "The metadata outlives the stream.");
    }

    [Fact]
    public async Task ResentBatch_PartlyStoredBeforeAConnectionLoss_IsAcknowledged_AndTheRestStoredOnce()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var key = handler.Keys.Stream(runId);
        var writer = handler.CreateWriter(runId);
        await writer.BeginAsync();

        // What Redis holds when a send's connection dropped after its first two XADDs applied: the writer's own ids
        // (<sequence>-0, from 1 after a claim of a fresh stream) with its fields. The writer does not know; it sends
        // the whole batch again.
        foreach (var (sequence, text) in new[] { (1, "a"), (2, "b") })
        {
            await redis.Database.StreamAddAsync(key, [new("text", text), new("sequence", sequence), new("timestamp", 1), new("type", "text"), new("attempt", 1)], $"{sequence}-0");
        }

        foreach (var text in new[] { "a", "b", "c" })
        {
            await writer.AppendAsync(AgentStreamEntry.ForText(text));
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());

        var raw = await redis.Database.StreamRangeAsync(key);
        Assert.Equal(["a", "b", "c", string.Empty], raw.Select(e => (string)e["text"]!));
        Assert.Equal([1L, 2, 3, 4], raw.Select(e => (long)e["sequence"]));
        Assert.Equal(["1-0", "2-0", "3-0", "4-0"], raw.Select(e => e.Id.ToString()));
        Assert.Equal("4-0", writer.LastEntryId);
        Assert.Equal("abc", StreamTranscript.Visible(await handler.ReadAllAsync(runId)));
    }

    [Fact]
    public async Task StaleAttempt_WritingAfterAReset_IsRefusedByTheEntryIds_AndLeavesNothingAfterTheReset()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var stale = await handler.WriteLiveAsync(runId, "one ", "two ");

        var fresh = handler.CreateWriter(runId, attempt: 2);
        await fresh.BeginAsync();

        // The stale writer's next entries (ids 3-0, 4-0) are below the reset's id (1000000-0): XADD refuses them.
        await stale.AppendAsync(AgentStreamEntry.ForText("three "));
        await stale.AppendAsync(AgentStreamEntry.ForText("four "));
        var fenced = await Assert.ThrowsAsync<AgentStreamWriteException>(() => stale.FlushAsync());
        Assert.Equal(AgentStreamWriteFailure.Fenced, fenced.Failure);

        await fresh.AppendAsync(AgentStreamEntry.ForText("fresh"));
        await fresh.CompleteAsync(AgentStreamEntry.ForDone());
        var raw = await redis.Database.StreamRangeAsync(handler.Keys.Stream(runId));
        Assert.Equal(["reset", "text", "done"], raw.Select(e => (string)e["type"]!));
        Assert.All(raw, e => Assert.Equal(2, (int)e["attempt"]));
        Assert.Equal(["1000000-0", "1000001-0", "1000002-0"], raw.Select(e => e.Id.ToString()));
    }

    [Fact]
    public async Task TwoWritersOfTheSameAttempt_Racing_ExactlyOneWrites_TheOtherIsFenced()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var writers = new[] { handler.CreateWriter(runId, attempt: 1), handler.CreateWriter(runId, attempt: 1) };
        await Task.WhenAll(writers.Select(w => w.BeginAsync()));

        var outcomes = await Task.WhenAll(writers.Select(async (w, i) =>
        {
            try
            {
                await w.AppendAsync(AgentStreamEntry.ForText($"writer {i}"));
                await w.FlushAsync();
                return (AgentStreamWriteFailure?)null;
            }
            catch (AgentStreamWriteException ex)
            {
                return ex.Failure;
            }
        }));

        // The later claim wins: the earlier writer's ids are below its floor. Which one is later is the race's.
        Assert.Single(outcomes, o => o is null);
        Assert.Single(outcomes, o => o == AgentStreamWriteFailure.Fenced);
        var winner = Array.FindIndex(outcomes, o => o is null);
        await writers[winner].CompleteAsync(AgentStreamEntry.ForDone());
        var chunks = await handler.ReadAllAsync(runId);
        Assert.Equal([StreamEntryKind.Text, StreamEntryKind.Done], chunks.Select(c => c.Kind));
        Assert.Equal($"writer {winner}", chunks[0].Text);
        Assert.Equal(chunks[0].Sequence + 1, chunks[1].Sequence);
    }

    [Fact]
    public async Task Write_AfterTheStreamExpired_IsRefusedAsExpired_AndDoesNotRecreateIt()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var writer = await handler.WriteLiveAsync(runId, "before expiry ");
        await redis.Database.KeyDeleteAsync(handler.Keys.Stream(runId));

        await writer.AppendAsync(AgentStreamEntry.ForText("after expiry"));
        var ex = await Assert.ThrowsAsync<AgentStreamWriteException>(() => writer.FlushAsync());
        Assert.Equal(AgentStreamWriteFailure.Expired, ex.Failure);
        Assert.False(await redis.Database.KeyExistsAsync(handler.Keys.Stream(runId)));
        Assert.True((await handler.GetStateAsync(runId)).Expired);
    }

    [Fact]
    public async Task OldFormatStream_ItsTimestampCursorsStillRead_AndANewAttemptStartsAboveThem()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var key = handler.Keys.Stream(runId);

        // As the writer before entry ids carried the sequence left it: ids from the clock, sequence from 0, its metadata.
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await redis.Database.StreamAddAsync(key, [new("text", $"old{i} "), new("sequence", i), new("timestamp", 1), new("type", "text"), new("attempt", 1)]))!);
        }

        await redis.Database.HashSetAsync(handler.Keys.Meta(runId), [new("attempt", 1), new("seq", 3)]);
        Assert.Equal(["old1 ", "old2 "], (await handler.ReadUntilAsync(runId, count: 2, cursor: ids[0])).Select(c => c.Text));

        await handler.WriteAsync(runId, ["new"], attempt: 2);
        var resumed = await handler.ReadAllAsync(runId, ids[2]);
        Assert.Equal([StreamEntryKind.Reset, StreamEntryKind.Text, StreamEntryKind.Done], resumed.Select(c => c.Kind));
        Assert.True(StreamCursor.Parse(resumed[0].EntryId) > StreamCursor.Parse(ids[2]));
        Assert.Equal(0, resumed[0].Sequence % 1_000_000);
        Assert.Equal($"{resumed[0].Sequence}-0", resumed[0].EntryId);
        Assert.Equal("new", StreamTranscript.Visible(resumed));
    }

    [Fact]
    public async Task OriginalSampleReader_ReadsOurStreamFromZero()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        await handler.WriteAsync(runId, ["Day 1: ", "temples"]);

        // The sample's reader: XREAD COUNT 100 STREAMS key 0, prints every text, stops at done.
        var entries = await redis.Database.StreamReadAsync(handler.Keys.Stream(runId), "0", 100);
        Assert.Equal("Day 1: temples", string.Concat(entries.Select(e => (string?)e["text"])));
        Assert.Equal("true", (string?)entries[^1]["done"]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TraceParent_IsWrittenOnTheAttemptsFirstEntryOnly(bool claimedFirst)
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        const string traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        var writer = handler.CreateWriter(runId, 1, traceParent);
        if (claimedFirst)
        {
            // The claim is a batch without entries: the trace context waits for the first entry.
            await writer.BeginAsync();
        }

        await writer.AppendAsync(AgentStreamEntry.ForText("a"));
        await writer.CompleteAsync(AgentStreamEntry.ForDone());

        var raw = await redis.Database.StreamRangeAsync(handler.Keys.Stream(runId));
        Assert.Equal(traceParent, (string?)raw[0]["traceparent"]);
        Assert.True(raw[1]["traceparent"].IsNull);
    }
}

/// <summary>The writer against a single redis-server.</summary>
public sealed class SingleServerStreamWriterTests(RedisFixture redis) : StreamWriterTests(redis);

/// <summary>The writer against a 3-primary Redis Cluster.</summary>
public sealed class ClusterStreamWriterTests(ClusterFixture redis) : StreamWriterTests(redis);

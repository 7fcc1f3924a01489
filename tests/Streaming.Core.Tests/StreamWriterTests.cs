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
            Assert.Equal(i, (long)raw[i]["sequence"]);
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
        Assert.Equal([2L, 3, 4], chunks.Select(c => c.Sequence));
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
    public async Task Batches_OutOfOrder_AreRefusedSoNoGapIsEverWritten_AndAFreshWriterCanTakeOver()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var writer = await handler.WriteLiveAsync(runId, "first ");

        // As if this writer's previous batch had not been stored (it failed while the next one was in flight).
        await redis.Database.HashSetAsync(handler.Keys.Meta(runId), "batch", 99);
        await writer.AppendAsync(AgentStreamEntry.ForText("after a gap"));
        var refused = await Assert.ThrowsAsync<AgentStreamWriteException>(() => writer.FlushAsync());
        Assert.Contains("earlier batch", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, await redis.Database.StreamLengthAsync(handler.Keys.Stream(runId)));

        await handler.CreateWriter(runId).CompleteAsync(AgentStreamEntry.ForError("The run failed."));
        var chunks = await handler.ReadAllAsync(runId);
        Assert.Equal([StreamEntryKind.Text, StreamEntryKind.Error], chunks.Select(c => c.Kind));
        Assert.Equal([0L, 1], chunks.Select(c => c.Sequence));
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
    public async Task AppendScript_BatchResentAfterItWasStored_IsAcknowledgedWithItsLastEntryId_NotWrittenAgain()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        RedisKey[] keys = [handler.Keys.Stream(runId), handler.Keys.Meta(runId)];
        const string Writer = "0123456789abcdef";

        // What the writer sends (see RedisStreamScripts.Append): a re-send after a lost reply is exactly the same call.
        static RedisValue[] Batch(string writer, int index, params string[] texts)
        {
            var done = texts.Length > 0 && texts[^1] == "done";
            var values = new List<RedisValue> { 600_000, 1, texts.Length, writer, index, 3_600_000, string.Empty };
            foreach (var text in texts)
            {
                values.AddRange(text == "done" ? ["done", string.Empty, 1, "done", "true"] : ["text", text, 0]);
            }

            return [.. values];
        }

        // One run's batch per call, as on Redis Cluster: no changes channel, one run, its argument count, its arguments.
        async Task<(string Last, long Next)> SendAsync(RedisValue[] values)
        {
            var reply = Assert.Single((RedisResult[])(await redis.Database.ScriptEvaluateAsync(RedisStreamScripts.Append, keys, [string.Empty, 1, values.Length, .. values]))!);
            return reply.Resp2Type == ResultType.Array
                ? throw new RedisServerException(RedisErrorKind.UnknownError, CommandFlags.None, (string)((RedisResult[])reply!)[0]!)
                : ((string)reply!, (long)await redis.Database.HashGetAsync(keys[1], "seq"));
        }

        var first = await SendAsync(Batch(Writer, 1, "a", "b"));
        Assert.Equal(first, await SendAsync(Batch(Writer, 1, "a", "b")));
        Assert.Equal(2, first.Next);

        // The terminal batch too: acknowledged, not refused as a write after the terminal entry.
        var terminal = await SendAsync(Batch(Writer, 2, "c", "done"));
        Assert.Equal(terminal, await SendAsync(Batch(Writer, 2, "c", "done")));
        Assert.Equal(4, terminal.Next);

        // Only the batch the writer stored last is acknowledged; an older one, or another writer's, is still refused.
        var stale = await Assert.ThrowsAsync<RedisServerException>(() => SendAsync(Batch(Writer, 1, "a", "b")));
        Assert.StartsWith(RedisStreamScripts.TerminatedPrefix, stale.Message, StringComparison.Ordinal);
        var other = await Assert.ThrowsAsync<RedisServerException>(() => SendAsync(Batch("fedcba9876543210", 2, "c", "done")));
        Assert.StartsWith(RedisStreamScripts.TerminatedPrefix, other.Message, StringComparison.Ordinal);

        var raw = await redis.Database.StreamRangeAsync(keys[0]);
        Assert.Equal(["a", "b", "c", string.Empty], raw.Select(e => (string)e["text"]!));
        Assert.Equal([0L, 1, 2, 3], raw.Select(e => (long)e["sequence"]));
        Assert.Equal(terminal.Last, raw[^1].Id.ToString());
        Assert.Equal(first.Last, raw[1].Id.ToString());
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

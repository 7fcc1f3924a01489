using AgentStreaming.Streaming.Callbacks;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

/// <summary>Checked delivery, expiry, resets and writer lifetimes.</summary>
public abstract class CheckedDeliveryTests(IRedisBackend redis)
{
    [Fact]
    public async Task ReadStreamAsync_LiveEntryLostOnTheWay_IsFilledFromRedisBeforeTheNextOne()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var key = handler.Keys.Stream(runId);
        var lost = 0;
        handler.Tail.LoseEntry = chunk => chunk.Sequence is 3 or 4 or 7 && Interlocked.Increment(ref lost) > 0;

        var writer = handler.CreateWriter(runId);
        await writer.BeginAsync();
        var reading = handler.ReadAllAsync(runId);
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);
        for (var i = 0; i < 10; i++)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText($"{i} "));
            await writer.FlushAsync();
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        var chunks = await reading;

        Assert.Equal(3, lost);
        Assert.Equal(Enumerable.Range(1, 11).Select(i => (long)i), chunks.Select(c => c.Sequence));
        Assert.Equal("0 1 2 3 4 5 6 7 8 9 ", StreamTranscript.Visible(chunks));
    }

    [Fact]
    public async Task ReadStreamAsync_HoleThatRedisNoLongerHolds_FailsLoudlyInsteadOfSkipping()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var key = handler.Keys.Stream(runId);
        foreach (var sequence in new[] { 0, 1, 4 })
        {
            await redis.Database.StreamAddAsync(key, [new("text", $"s{sequence} "), new("sequence", sequence), new("timestamp", 1), new("type", "text"), new("attempt", 1)]);
        }

        await redis.Database.StreamAddAsync(key, [new("text", ""), new("sequence", 5), new("timestamp", 1), new("type", "done"), new("attempt", 1), new("done", "true")]);

        var seen = new List<StreamChunk>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var ex = await Assert.ThrowsAsync<AgentStreamGapException>(async () =>
        {
            await foreach (var chunk in handler.ReadStreamAsync(runId, cancellationToken: deadline.Token))
            {
                seen.Add(chunk);
            }
        });

        Assert.Equal([0L, 1L], seen.Select(c => c.Sequence));
        Assert.Equal(2, ex.ExpectedSequence);
        Assert.Equal(4, ex.FoundSequence);
        Assert.Equal(seen[^1].EntryId, ex.AfterEntryId);
    }

    [Fact]
    public async Task GetStateAsync_ThroughARunsLife_ReportsExistsExpiredAndTerminal()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        Assert.Equal(new AgentStreamState(false, false, null), await handler.GetStateAsync(runId));

        var writer = handler.CreateWriter(runId);
        await writer.BeginAsync();
        Assert.Equal(new AgentStreamState(true, false, null), await handler.GetStateAsync(runId));

        await writer.AppendAsync(AgentStreamEntry.ForText("hello"));
        await writer.FlushAsync();
        var hello = Assert.Single(await handler.ReadUntilAsync(runId, 1));
        Assert.Equal(new AgentStreamState(true, false, null, hello.Cursor), await handler.GetStateAsync(runId));

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        var terminal = (await handler.ReadAllAsync(runId))[^1];
        Assert.Equal(new AgentStreamState(true, false, terminal.Cursor, terminal.Cursor), await handler.GetStateAsync(runId));

        await redis.Database.KeyDeleteAsync(handler.Keys.Stream(runId));
        Assert.Equal(new AgentStreamState(false, true, null), await handler.GetStateAsync(runId));
    }

    [Fact]
    public async Task GetStateAsync_MalformedRunId_ThrowsBeforeRedisIsTouched()
    {
        await using var handler = redis.CreateHandler();
        Assert.Throws<ArgumentException>(() => { _ = handler.GetStateAsync("not a run id"); });
    }

    [Fact]
    public async Task ReadStreamAsync_LiveKeyReplacedByANonStream_FailsAtOnceNotAfterTheReconnectDeadline()
    {
        // WRONGTYPE is not transient: retrying it until ReconnectTimeout (a minute here) would only delay the failure.
        await using var handler = redis.CreateHandler(o =>
        {
            o.ReconnectTimeout = TimeSpan.FromMinutes(1);
            o.NotFoundTimeout = TimeSpan.FromMinutes(1);
            o.IdleCheckInterval = TimeSpan.FromMinutes(1);
            o.TailBlockTimeout = TimeSpan.FromMilliseconds(200);
        });
        var runId = TestStreams.NewRunId();
        var reading = handler.ReadAllAsync(runId, timeout: TimeSpan.FromMinutes(2));
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);

        await redis.Database.StringSetAsync(handler.Keys.Stream(runId), "not a stream");

        var ex = await Assert.ThrowsAsync<AgentStreamUnavailableException>(() => reading).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Contains("WRONGTYPE", ex.InnerException?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadStreamAsync_StreamKeyGoneMetaKept_EndsAsExpiredAtOnceForANewReader()
    {
        await using var handler = redis.CreateHandler(o => o.NotFoundTimeout = TimeSpan.FromSeconds(30));
        var runId = TestStreams.NewRunId();
        await handler.WriteLiveAsync(runId, "evicted");
        await redis.Database.KeyDeleteAsync(handler.Keys.Stream(runId));
        Assert.True(await redis.Database.KeyExistsAsync(handler.Keys.Meta(runId)));

        var started = DateTime.UtcNow;
        var ex = await Assert.ThrowsAsync<AgentStreamNotFoundException>(() => handler.ReadAllAsync(runId));
        Assert.False(ex.ExpiredWhileReading);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "It must not wait for the not-found timeout.");
        Assert.False((await handler.GetStateAsync(runId)).Exists);
    }

    [Fact]
    public async Task ReadStreamAsync_StreamKeyEvictedWhileReading_EndsAsExpired()
    {
        await using var handler = redis.CreateHandler(o => o.IdleCheckInterval = TimeSpan.FromMilliseconds(100));
        var runId = TestStreams.NewRunId();
        await handler.WriteLiveAsync(runId, "then evicted");
        var reading = handler.ReadAllAsync(runId);
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);

        await redis.Database.KeyDeleteAsync(handler.Keys.Stream(runId));

        var ex = await Assert.ThrowsAsync<AgentStreamNotFoundException>(() => reading);
        Assert.True(ex.ExpiredWhileReading);
    }

    [Fact]
    public async Task ReadStreamAsync_ClaimedButNotWrittenYet_KeepsWaiting()
    {
        await using var handler = redis.CreateHandler(o => { o.NotFoundTimeout = TimeSpan.FromMilliseconds(200); o.IdleCheckInterval = TimeSpan.FromMilliseconds(50); });
        var runId = TestStreams.NewRunId();
        var writer = handler.CreateWriter(runId);
        await writer.BeginAsync();
        Assert.True((await handler.GetStateAsync(runId)).Exists);
        var reading = handler.ReadAllAsync(runId);
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);

        // Well past the not-found timeout: a claimed stream is a stream that exists.
        using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(600));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading.WaitAsync(wait.Token));
        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        Assert.Equal(StreamEntryKind.Done, Assert.Single(await reading).Kind);
    }

    [Fact]
    public async Task BeginAsync_LateAttemptAfterTheStreamExpired_IsRefusedAndNothingRestartsAtZero()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var first = handler.CreateWriter(runId, 1);
        await first.AppendAsync(AgentStreamEntry.ForText("attempt one"));
        await first.FlushAsync();
        await redis.Database.KeyDeleteAsync(handler.Keys.Stream(runId));

        var late = handler.CreateWriter(runId, 2);
        var ex = await Assert.ThrowsAsync<AgentStreamWriteException>(() => late.BeginAsync());
        Assert.Equal(AgentStreamWriteFailure.Expired, ex.Failure);

        await first.AppendAsync(AgentStreamEntry.ForText("more of attempt one"));
        var again = await Assert.ThrowsAsync<AgentStreamWriteException>(() => first.FlushAsync());
        Assert.Equal(AgentStreamWriteFailure.Expired, again.Failure);
        Assert.False(await redis.Database.KeyExistsAsync(handler.Keys.Stream(runId)));
    }

    [Fact]
    public async Task Writer_MetadataOutlivesTheStreamByTheConfiguredMemory()
    {
        await using var handler = redis.CreateHandler(o => { o.StreamTtl = TimeSpan.FromMinutes(10); o.ExpiredStreamMemory = TimeSpan.FromHours(1); });
        var runId = TestStreams.NewRunId();
        await handler.WriteAsync(runId, ["a"]);

        var streamTtl = await redis.Database.KeyTimeToLiveAsync(handler.Keys.Stream(runId));
        var metaTtl = await redis.Database.KeyTimeToLiveAsync(handler.Keys.Meta(runId));
        Assert.InRange(streamTtl!.Value, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10));
        Assert.InRange(metaTtl!.Value, TimeSpan.FromMinutes(69), TimeSpan.FromMinutes(70));
    }

    [Fact]
    public async Task Reset_TrimsTheAbandonedAttempt_NewReadersStartAtTheResetAndOldCursorsStillWork()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var first = handler.CreateWriter(runId, 1);
        foreach (var text in new[] { "abandoned ", "partial ", "text " })
        {
            await first.AppendAsync(AgentStreamEntry.ForText(text));
        }

        await first.FlushAsync();
        var before = await handler.ReadUntilAsync(runId, count: 2);

        await handler.WriteAsync(runId, ["the ", "answer"], attempt: 2);

        // The original sample's reader reads the key from the start and prints every text: only the new attempt is left.
        var raw = await redis.Database.StreamRangeAsync(handler.Keys.Stream(runId));
        Assert.Equal("reset", (string?)raw[0]["type"]);
        Assert.Equal("the answer", string.Concat(raw.Select(e => (string?)e["text"])));

        var fresh = await handler.ReadAllAsync(runId);
        Assert.Equal([StreamEntryKind.Reset, StreamEntryKind.Text, StreamEntryKind.Text, StreamEntryKind.Done], fresh.Select(c => c.Kind));
        Assert.Equal([1_000_000L, 1_000_001, 1_000_002, 1_000_003], fresh.Select(c => c.Sequence));

        // A reader that was in the abandoned attempt resumes from its cursor: it is led to the reset, no gap reported.
        var resumed = await handler.ReadAllAsync(runId, before[^1].EntryId);
        Assert.Equal(fresh, resumed);
        Assert.Equal("abandoned partial ", StreamTranscript.Visible(before));
        Assert.Equal("the answer", StreamTranscript.Visible(before.Concat(resumed)));
    }

    [Fact]
    public async Task Callback_WritersThatEndWithoutATerminal_AreNotKept()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var handler = redis.CreateHandler(o => o.StreamTtl = TimeSpan.FromMinutes(10));
        var callback = new RedisStreamResponseCallback(handler, time);

        // Fenced: attempt 2 holds the stream, attempt 1 starts late.
        var fencedRun = TestStreams.NewRunId();
        await callback.OnRunStartedAsync(new AgentResponseCallbackContext("TravelPlanner", "conversation", fencedRun, 2));
        var fenced = await Assert.ThrowsAsync<AgentStreamWriteException>(() => callback.OnRunStartedAsync(new AgentResponseCallbackContext("TravelPlanner", "conversation", fencedRun, 1)).AsTask());
        Assert.Equal(AgentStreamWriteFailure.Fenced, fenced.Failure);
        Assert.Equal(1, callback.ActiveRuns);

        // Redis refuses the write: the run already ended.
        var endedRun = TestStreams.NewRunId();
        await handler.WriteAsync(endedRun, ["done already"]);
        var ended = await Assert.ThrowsAsync<AgentStreamWriteException>(() => callback.OnRunStartedAsync(new AgentResponseCallbackContext("TravelPlanner", "conversation", endedRun, 1)).AsTask());
        Assert.Equal(AgentStreamWriteFailure.AlreadyTerminated, ended.Failure);
        Assert.Equal(1, callback.ActiveRuns);

        // Abandoned by its producer (and the attempt that holds fencedRun): dropped once unused for the stream TTL.
        var abandonedRun = TestStreams.NewRunId();
        await callback.OnRunStartedAsync(new AgentResponseCallbackContext("TravelPlanner", "conversation", abandonedRun, 1));
        Assert.Equal(2, callback.ActiveRuns);
        time.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(2, callback.ActiveRuns);
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, callback.ActiveRuns);
    }

    [Fact]
    public async Task Callback_WriterWhoseRedisWriteFailed_KeepsRefusingDoneUntilDroppedByAge()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = ConfigurationOptions.Parse($"127.0.0.1:{FreePort.Next()},abortConnect=false,connectTimeout=200,asyncTimeout=300");
        await using var offline = await ConnectionMultiplexer.ConnectAsync(options);
        await using var handler = redis.CreateHandler(o => { o.StreamTtl = TimeSpan.FromMinutes(10); o.WriteRetryTimeout = TimeSpan.FromMilliseconds(500); }, offline);
        var callback = new RedisStreamResponseCallback(handler, time);
        var context = new AgentResponseCallbackContext("TravelPlanner", "conversation", TestStreams.NewRunId(), 1);

        var failed = await Assert.ThrowsAsync<AgentStreamWriteException>(() => callback.OnRunStartedAsync(context).AsTask());
        Assert.Equal(AgentStreamWriteFailure.Redis, failed.Failure);
        Assert.Equal(1, callback.ActiveRuns);

        time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(0, callback.ActiveRuns);
    }

    [Fact]
    public async Task Tail_ConnectsWithACloneOfTheCallersConfigurationOptions_NotAParsedString()
    {
        var connects = 0;
        var configuration = ConfigurationOptions.Parse(redis.ConnectionString);
        configuration.BeforeSocketConnect = (_, _, _) => Interlocked.Increment(ref connects);

        // The connection string points nowhere: only the caller's options reach Redis.
        await using var handler = redis.CreateHandler(o => { o.Configuration = configuration; o.ConnectionString = $"127.0.0.1:{FreePort.Next()}"; });
        var runId = TestStreams.NewRunId();
        var writer = handler.CreateWriter(runId);
        await writer.BeginAsync();
        var reading = handler.ReadAllAsync(runId);
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);
        await writer.AppendAsync(AgentStreamEntry.ForText("live"));
        await writer.CompleteAsync(AgentStreamEntry.ForDone());

        Assert.Equal("live", StreamTranscript.Visible(await reading));
        Assert.True(connects > 0, "The tail's connection was not opened with the caller's ConfigurationOptions.");
        Assert.Null(configuration.ClientName);
    }

    [Fact]
    public void Keys_StreamAndMetaShareAHashSlot_AndTheStreamKeepsTheSampleName()
    {
        var keys = new StreamKeys("agent-stream:");
        var runId = TestStreams.NewRunId();
        Assert.Equal("agent-stream:" + runId, keys.Stream(runId));
        Assert.Equal("{agent-stream:" + runId + "}:meta", keys.Meta(runId));
        var slot = redis.Multiplexer.HashSlot(keys.Stream(runId));
        Assert.Equal(slot, redis.Multiplexer.HashSlot(keys.Meta(runId)));
        Assert.Equal(slot, redis.Multiplexer.HashSlot(keys.Notify(runId)));
        Assert.Throws<ArgumentException>(() => new StreamKeys("agent{stream}:"));
    }
}

/// <summary>Checked delivery against a single redis-server.</summary>
public sealed class SingleServerCheckedDeliveryTests(RedisFixture redis) : CheckedDeliveryTests(redis);

/// <summary>Checked delivery against a 3-primary Redis Cluster.</summary>
public sealed class ClusterCheckedDeliveryTests(ClusterFixture redis) : CheckedDeliveryTests(redis);

/// <summary>The same against a single redis-server, read by the blocking tail.</summary>
public sealed class BlockingReadCheckedDeliveryTests(RedisFixture redis) : CheckedDeliveryTests(new BlockingReadBackend(redis));

using System.Diagnostics;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using CsCheck;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

public abstract class StreamReaderTests(IRedisBackend redis)
{
    private static readonly Gen<string> ChunkText = Gen.OneOf(
        Gen.String[Gen.Char.AlphaNumeric, 0, 12],
        Gen.Const("line one\nline two\r\n"),
        Gen.Const("🗾 東京 — día"),
        Gen.Const(string.Empty),
        Gen.String[0, 40]);

    [Fact]
    public async Task ReadStreamAsync_FromEveryCursorOfAFinishedStream_YieldsExactlyTheRest()
    {
        await using var handler = redis.CreateHandler();
        await Gen.Select(ChunkText.List[0, 30], Gen.Int[0, 2]).SampleAsync(async sample =>
        {
            var (texts, terminalKind) = sample;
            var runId = TestStreams.NewRunId();
            var terminal = terminalKind switch
            {
                0 => AgentStreamEntry.ForDone(),
                1 => AgentStreamEntry.ForError("boom"),
                _ => AgentStreamEntry.ForCancelled(),
            };
            await handler.WriteAsync(runId, texts, terminal);

            var all = await handler.ReadAllAsync(runId);
            Assert.Equal(texts.Count + 1, all.Count);
            Assert.Equal(string.Concat(texts), StreamTranscript.Visible(all));
            Assert.True(all[^1].IsTerminal);

            for (var i = 0; i < all.Count; i++)
            {
                var rest = await handler.ReadAllAsync(runId, all[i].EntryId);
                Assert.Equal(all.Skip(i + 1), rest);
                Assert.Equal(string.Concat(texts.Skip(i + 1)), StreamTranscript.Visible(rest));
            }
        }, iter: 40, threads: 1);
    }

    [Fact]
    public async Task ReadStreamAsync_StartedBeforeTheWriter_SeesEveryEntryInOrderThenEnds()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var reading = handler.ReadAllAsync(runId);
        await WaitUntilAsync(() => handler.LiveReaderCount > 0);

        var writer = handler.CreateWriter(runId);
        var texts = Enumerable.Range(0, 200).Select(i => $"t{i} ").ToList();
        foreach (var text in texts)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText(text));
            if (text.EndsWith("0 ", StringComparison.Ordinal))
            {
                await writer.FlushAsync();
            }
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        var chunks = await reading;

        Assert.Equal(string.Concat(texts), StreamTranscript.Visible(chunks));
        Assert.Equal(Enumerable.Range(1, 201).Select(i => (long)i), chunks.Select(c => c.Sequence));
        Assert.Equal(StreamEntryKind.Done, chunks[^1].Kind);
        Assert.Equal(0, handler.LiveReaderCount);
    }

    [Fact]
    public async Task ReadStreamAsync_ReaderSlowerThanWriter_GetsEverythingOnce()
    {
        await using var handler = redis.CreateHandler(o => { o.ReaderBufferLimit = 4; o.ReadBatchSize = 3; });
        var runId = TestStreams.NewRunId();
        var writer = await handler.WriteLiveAsync(runId, "first ");

        var seen = new List<StreamChunk>();
        await using var enumerator = handler.ReadStreamAsync(runId).GetAsyncEnumerator();
        Assert.True(await enumerator.MoveNextAsync());
        seen.Add(enumerator.Current);
        var pending = enumerator.MoveNextAsync();

        var expected = "first " + string.Concat(Enumerable.Range(0, 300).Select(i => $"{i},"));
        for (var i = 0; i < 300; i++)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText($"{i},"));
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        Assert.True(await pending);
        seen.Add(enumerator.Current);
        while (await enumerator.MoveNextAsync())
        {
            seen.Add(enumerator.Current);
        }

        Assert.Equal(expected, StreamTranscript.Visible(seen));
        Assert.Equal(seen.Count, seen.Select(c => c.EntryId).Distinct().Count());
    }

    [Fact]
    public async Task ReadStreamAsync_CursorAtTheTerminalEntry_EndsAtOnce()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        await handler.WriteAsync(runId, ["a"], AgentStreamEntry.ForError("failed"));
        var all = await handler.ReadAllAsync(runId);

        Assert.Empty(await handler.ReadAllAsync(runId, all[^1].EntryId, TimeSpan.FromSeconds(5)));
        Assert.Empty(await handler.ReadAllAsync(runId, "99999999999999-0", TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task ReadStreamAsync_ResetEntry_IsSurfacedWithTheNewAttempt()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var first = handler.CreateWriter(runId, 1);
        await first.AppendAsync(AgentStreamEntry.ForText("partial"));
        await first.FlushAsync();
        var reading = handler.ReadAllAsync(runId);
        await handler.WriteAsync(runId, ["complete answer"], attempt: 2);

        var chunks = await reading;
        var reset = Assert.Single(chunks, c => c.Kind == StreamEntryKind.Reset);
        Assert.Equal(2, reset.Attempt);
        Assert.Equal("complete answer", StreamTranscript.Visible(chunks));
    }

    [Theory]
    [InlineData("not-a-cursor")]
    [InlineData("123-")]
    [InlineData("-5")]
    [InlineData("12-34-56")]
    [InlineData("99999999999999999999999-0")]
    [InlineData("1 2")]
    public async Task ReadStreamAsync_MalformedCursor_ThrowsArgumentExceptionWithoutTouchingRedis(string cursor)
    {
        // A multiplexer to a port nothing listens on: any Redis command would fail with a connection error instead.
        var options = ConfigurationOptions.Parse($"127.0.0.1:{FreePort.Next()},abortConnect=false,connectTimeout=200");
        await using var offline = await ConnectionMultiplexer.ConnectAsync(options);
        await using var handler = redis.CreateHandler(multiplexer: offline);

        var ex = Assert.Throws<ArgumentException>(() => handler.ReadStreamAsync(TestStreams.NewRunId(), cursor));
        Assert.Equal("cursor", ex.ParamName);
        Assert.Contains("is not a stream cursor", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("run id with spaces")]
    [InlineData("../../etc")]
    public void ReadStreamAsync_MalformedRunId_ThrowsArgumentException(string runId)
    {
        var handler = redis.CreateHandler();
        Assert.Throws<ArgumentException>(() => handler.ReadStreamAsync(runId));
    }

    [Fact]
    public async Task ReadStreamAsync_UnknownRun_EndsWithNotFoundAfterTheConfiguredWait()
    {
        await using var handler = redis.CreateHandler(o => o.NotFoundTimeout = TimeSpan.FromMilliseconds(300));
        var stopwatch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<AgentStreamNotFoundException>(() => handler.ReadAllAsync(TestStreams.NewRunId()));
        Assert.False(ex.ExpiredWhileReading);
        Assert.Contains("not found or has expired", ex.Message, StringComparison.Ordinal);
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(250), $"Gave up after {stopwatch.Elapsed}.");
        Assert.Equal(0, handler.LiveReaderCount);
    }

    [Fact]
    public async Task ReadStreamAsync_StreamCreatedWithinTheWait_IsRead()
    {
        await using var handler = redis.CreateHandler(o => o.NotFoundTimeout = TimeSpan.FromSeconds(20));
        var runId = TestStreams.NewRunId();
        var reading = handler.ReadAllAsync(runId);
        await WaitUntilAsync(() => handler.LiveReaderCount > 0);
        await handler.WriteAsync(runId, ["late start"]);
        Assert.Equal("late start", StreamTranscript.Visible(await reading));
    }

    [Fact]
    public async Task ReadStreamAsync_StreamExpiresWhileWaiting_EndsWithExpired()
    {
        await using var handler = redis.CreateHandler(o => o.IdleCheckInterval = TimeSpan.FromMilliseconds(100));
        var runId = TestStreams.NewRunId();
        await handler.WriteLiveAsync(runId, "abandoned");

        var reading = handler.ReadAllAsync(runId);
        await WaitUntilAsync(() => handler.LiveReaderCount > 0);
        await redis.Database.KeyDeleteAsync([handler.Keys.Stream(runId), handler.Keys.Meta(runId)]);

        var ex = await Assert.ThrowsAsync<AgentStreamNotFoundException>(() => reading);
        Assert.True(ex.ExpiredWhileReading);
    }

    [Fact]
    public async Task ReadStreamAsync_Cancelled_StopsPromptly()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        await handler.CreateWriter(runId).BeginAsync();
        using var cts = new CancellationTokenSource();
        var reading = Task.Run(async () =>
        {
            await foreach (var _ in handler.ReadStreamAsync(runId, cancellationToken: cts.Token))
            {
            }
        });
        await WaitUntilAsync(() => handler.LiveReaderCount > 0);
        var stopwatch = Stopwatch.StartNew();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"Took {stopwatch.Elapsed}.");
        await WaitUntilAsync(() => handler.LiveReaderCount == 0);
    }

    [Fact]
    public async Task ReadStreamAsync_OriginalSampleEntries_AreUnderstood()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var key = handler.Keys.Stream(runId);
        await redis.Database.StreamAddAsync(key, [new("text", "Hello "), new("sequence", 0), new("timestamp", 1734649123456)]);
        await redis.Database.StreamAddAsync(key, [new("text", "world"), new("sequence", 1), new("timestamp", 1734649123457)]);
        await redis.Database.StreamAddAsync(key, [new("text", ""), new("sequence", 2), new("timestamp", 1734649123458), new("done", "true")]);

        var chunks = await handler.ReadAllAsync(runId);
        Assert.Equal([StreamEntryKind.Text, StreamEntryKind.Text, StreamEntryKind.Done], chunks.Select(c => c.Kind));
        Assert.Equal("Hello world", StreamTranscript.Visible(chunks));
        Assert.All(chunks, c => Assert.Equal(1, c.Attempt));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1734649123456), chunks[0].Timestamp);
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (deadline.Elapsed > limit)
            {
                throw new TimeoutException($"Condition not met within {limit}.");
            }

            await Task.Delay(5);
        }
    }
}

/// <summary>The reader against a single redis-server.</summary>
public sealed class SingleServerStreamReaderTests(RedisFixture redis) : StreamReaderTests(redis);

/// <summary>The reader against a 3-primary Redis Cluster.</summary>
public sealed class ClusterStreamReaderTests(ClusterFixture redis) : StreamReaderTests(redis);

/// <summary>The same against a single redis-server, read by the blocking tail.</summary>
public sealed class BlockingReadStreamReaderTests(RedisFixture redis) : StreamReaderTests(new BlockingReadBackend(redis));

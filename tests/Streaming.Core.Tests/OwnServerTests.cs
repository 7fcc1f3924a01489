using System.Diagnostics;
using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

/// <summary>Tests that start, kill or restart a redis-server of their own.</summary>
public sealed class OwnServerTests(RedisFixture redis)
{
    [Fact]
    public async Task ReadStreamAsync_ThousandConcurrentReaders_AllCompleteOnFewConnections()
    {
        await using var server = await RedisServer.StartAsync();
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",allowAdmin=true");
        await using var handler = redis.CreateHandler(multiplexer: multiplexer);
        const int Readers = 1000;
        var runIds = Enumerable.Range(0, Readers).Select(_ => TestStreams.NewRunId()).ToArray();
        var readers = runIds.Select(id => handler.ReadAllAsync(id, timeout: TimeSpan.FromSeconds(60))).ToArray();
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == Readers, TimeSpan.FromSeconds(30));

        var clients = await ConnectedClientsAsync(multiplexer);
        await Task.WhenAll(runIds.Select(id => handler.WriteAsync(id, [id[..8], " a", " b", " c"])));
        var results = await Task.WhenAll(readers);

        for (var i = 0; i < Readers; i++)
        {
            Assert.Equal(runIds[i][..8] + " a b c", StreamTranscript.Visible(results[i]));
            Assert.Equal(StreamEntryKind.Done, results[i][^1].Kind);
        }

        // The test's multiplexer and the shared tail: a couple of connections each, not one per reader.
        Assert.InRange(clients, 1, 6);
    }

    [Fact]
    public async Task ReadStreamAsync_RedisRestartedDuringRead_ResumesWithoutGapOrDuplicate()
    {
        await using var server = await RedisServer.StartAsync(appendOnly: true);
        await using var multiplexer = await server.ConnectAsync(o => o.ConnectRetry = 10);
        await using var handler = redis.CreateHandler(o => o.TailBlockTimeout = TimeSpan.FromSeconds(1), multiplexer);
        var runId = TestStreams.NewRunId();
        var writer = handler.CreateWriter(runId);
        for (var i = 0; i < 10; i++)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText($"before{i} "));
        }

        await writer.FlushAsync();
        var seen = new List<StreamChunk>();
        var firstTen = new TaskCompletionSource();
        var reading = Task.Run(async () =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await foreach (var chunk in handler.ReadStreamAsync(runId, cancellationToken: cts.Token))
            {
                seen.Add(chunk);
                if (seen.Count == 10)
                {
                    firstTen.TrySetResult();
                }
            }
        });
        await firstTen.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);

        await server.RestartAsync();
        await StreamReaderTests.WaitUntilAsync(() => multiplexer.IsConnected, TimeSpan.FromSeconds(30));

        var after = handler.CreateWriter(runId);
        for (var i = 0; i < 10; i++)
        {
            await after.AppendAsync(AgentStreamEntry.ForText($"after{i} "));
        }

        await after.CompleteAsync(AgentStreamEntry.ForDone());
        await reading.WaitAsync(TimeSpan.FromSeconds(60));

        var expected = string.Concat(Enumerable.Range(0, 10).Select(i => $"before{i} ")) + string.Concat(Enumerable.Range(0, 10).Select(i => $"after{i} "));
        Assert.Equal(expected, StreamTranscript.Visible(seen));
        Assert.Equal(Enumerable.Range(0, 21).Select(i => (long)i), seen.Select(c => c.Sequence));
    }

    [Fact]
    public async Task ReadStreamAsync_RedisGoneLongerThanTheDeadline_FailsWithUnavailable()
    {
        await using var server = await RedisServer.StartAsync();
        await using var multiplexer = await server.ConnectAsync(o => o.AsyncTimeout = 500);
        await using var handler = redis.CreateHandler(o => { o.ReconnectTimeout = TimeSpan.FromSeconds(1); o.TailBlockTimeout = TimeSpan.FromMilliseconds(500); }, multiplexer);
        var runId = TestStreams.NewRunId();
        await handler.CreateWriter(runId).BeginAsync();
        var reading = handler.ReadAllAsync(runId, timeout: TimeSpan.FromSeconds(60));
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);

        await server.KillAsync();
        var ex = await Assert.ThrowsAsync<AgentStreamUnavailableException>(() => reading).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("Redis could not be reached", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteFailure_RedisDownAndNoRetryWindow_SurfacesToTheProducer()
    {
        await using var server = await AgentStreaming.Testing.RedisServer.StartAsync();
        await using var multiplexer = await server.ConnectAsync(o => { o.AsyncTimeout = 1000; o.ConnectRetry = 0; });
        await using var handler = redis.CreateHandler(o => o.WriteRetryTimeout = TimeSpan.Zero, multiplexer);
        var writer = handler.CreateWriter(TestStreams.NewRunId());
        await writer.AppendAsync(AgentStreamEntry.ForText("stored"));
        await writer.FlushAsync();

        await server.KillAsync();
        await writer.AppendAsync(AgentStreamEntry.ForText("lost"));
        var ex = await Assert.ThrowsAsync<AgentStreamWriteException>(() => writer.FlushAsync());
        Assert.Equal(AgentStreamWriteFailure.Redis, ex.Failure);
        Assert.True(writer.IsFaulted);
        await Assert.ThrowsAsync<AgentStreamWriteException>(async () => await writer.AppendAsync(AgentStreamEntry.ForText("after")));
    }

    [Fact]
    public async Task Writer_RedisRestartsMidStream_ContinuesAsTheSameAttempt_NoGapNoDuplicate()
    {
        using var meters = new MeterRecorder(StreamingDiagnostics.WriteRetries, StreamingDiagnostics.WriteOutages, StreamingDiagnostics.LiveReaders);
        await using var server = await RedisServer.StartAsync(appendOnly: true);
        // SyncTimeout shorter than the outage, so sends queued while Redis is down fail and are re-sent.
        await using var multiplexer = await server.ConnectAsync(o => { o.AsyncTimeout = 1000; o.SyncTimeout = 1000; });
        var log = new RecordingLogger<RedisStreamResponseHandler>();
        await using var handler = CreateHandler(multiplexer, log, o => o.WriteRetryTimeout = TimeSpan.FromSeconds(30));
        var runId = TestStreams.NewRunId();
        var writer = handler.CreateWriter(runId);
        var texts = new List<string>();
        async Task ProduceAsync()
        {
            var text = $"t{texts.Count} ";
            texts.Add(text);
            await writer.AppendAsync(AgentStreamEntry.ForText(text));
        }

        for (var i = 0; i < 20; i++)
        {
            await ProduceAsync();
        }

        await writer.FlushAsync();
        var reading = handler.ReadAllAsync(runId, timeout: TimeSpan.FromSeconds(120));
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);

        await server.StopAsync();
        var outage = Stopwatch.StartNew();

        // The producer keeps producing, paced like a model's tokens, while Redis is down, until the writer has met a
        // failure and started retrying and the outage has lasted a while.
        while (outage.Elapsed < TimeSpan.FromSeconds(2.5) || !log.Has(WriteRetryingEvent))
        {
            Assert.True(outage.Elapsed < TimeSpan.FromSeconds(30), "The writer never met a failure while Redis was down.");
            await ProduceAsync();
            await Task.Delay(20);
        }

        Assert.False(writer.IsFaulted);
        await server.RestartAsync();
        for (var i = 0; i < 20; i++)
        {
            await ProduceAsync();
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone()).WaitAsync(TimeSpan.FromSeconds(60));
        var chunks = await reading;

        Assert.True(log.Has(WriteRecoveredEvent));
        Assert.False(log.Has(WriteFailedEvent));
        var raw = await multiplexer.GetDatabase().StreamRangeAsync(handler.Keys.Stream(runId));
        Assert.Equal(texts.Count + 1, raw.Length);
        Assert.Equal(Enumerable.Range(0, raw.Length).Select(i => (long)i), raw.Select(e => (long)e["sequence"]));
        Assert.Equal(texts, raw[..^1].Select(e => (string)e["text"]!));
        Assert.All(raw, e => Assert.Equal(1, (int)e["attempt"]));
        Assert.DoesNotContain(raw, e => (string?)e["type"] == "reset");
        Assert.Single(raw, e => (string?)e["type"] is "done" or "error" or "cancelled");
        Assert.Equal("done", (string?)raw[^1]["type"]);

        // A reader that was live through the outage got the same entries, each once.
        Assert.Equal(raw.Select(e => e.Id.ToString()), chunks.Select(c => c.EntryId));

        // The metrics an operator watches for Redis blips: batches re-sent, and the outage ridden out.
        Assert.True(meters.Count(StreamingDiagnostics.WriteRetries) >= 1, "write retries");
        Assert.True(meters.Count(StreamingDiagnostics.WriteOutages) >= 1, "write outages");
        Assert.Equal("{batch}", meters.Units[StreamingDiagnostics.WriteRetries]);
        Assert.Equal("{outage}", meters.Units[StreamingDiagnostics.WriteOutages]);
        Assert.True(meters.Count(StreamingDiagnostics.LiveReaders) >= 1, "live readers");
        Assert.Equal("{reader}", meters.Units[StreamingDiagnostics.LiveReaders]);
    }

    [Fact]
    public async Task Writer_ReplyLostAfterRedisStoredTheBatch_ResentBatchIsAcknowledged_NoDuplicate()
    {
        await using var server = await RedisServer.StartAsync();
        await using var multiplexer = await server.ConnectAsync(o => o.AsyncTimeout = 500);
        await using var admin = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",allowAdmin=true");
        var log = new RecordingLogger<RedisStreamResponseHandler>();
        await using var handler = CreateHandler(multiplexer, log, o => o.WriteRetryTimeout = TimeSpan.FromSeconds(30));
        var runId = TestStreams.NewRunId();
        var writer = await handler.WriteLiveAsync(runId, "before ");

        // Redis holds every write command, scripts included, for 3 s: the next batch reaches it, the writer's send times
        // out, and the batch is stored only when the pause ends, ahead of every re-send of it.
        await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", 3000, "WRITE");
        await writer.AppendAsync(AgentStreamEntry.ForText("held "));
        await StreamReaderTests.WaitUntilAsync(() => log.Has(WriteRetryingEvent), TimeSpan.FromSeconds(10));
        await writer.AppendAsync(AgentStreamEntry.ForText("after"));
        await writer.CompleteAsync(AgentStreamEntry.ForDone()).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.IsType<RedisTimeoutException>(log.Entries.First(e => e.Id.Id == WriteRetryingEvent).Exception);
        Assert.True(log.Has(WriteRecoveredEvent));
        var raw = await multiplexer.GetDatabase().StreamRangeAsync(handler.Keys.Stream(runId));
        Assert.Equal(["before ", "held ", "after", string.Empty], raw.Select(e => (string)e["text"]!));
        Assert.Equal([0L, 1, 2, 3], raw.Select(e => (long)e["sequence"]));
        Assert.Equal(raw[^1].Id.ToString(), writer.LastEntryId);
    }

    [Fact]
    public async Task Writer_RedisDownLongerThanWriteRetryTimeout_FaultsWithRedis_AndWhatWasWrittenStays()
    {
        await using var server = await RedisServer.StartAsync(appendOnly: true);
        await using var multiplexer = await server.ConnectAsync(o => o.AsyncTimeout = 500);
        var log = new RecordingLogger<RedisStreamResponseHandler>();
        await using var handler = CreateHandler(multiplexer, log, o => o.WriteRetryTimeout = TimeSpan.FromSeconds(1));
        var runId = TestStreams.NewRunId();
        var writer = handler.CreateWriter(runId);
        var texts = Enumerable.Range(0, 10).Select(i => $"kept{i} ").ToArray();
        foreach (var text in texts)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText(text));
        }

        await writer.FlushAsync();

        await server.StopAsync();
        var down = Stopwatch.StartNew();
        await writer.AppendAsync(AgentStreamEntry.ForText("lost"));
        var ex = await Assert.ThrowsAsync<AgentStreamWriteException>(() => writer.FlushAsync()).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(AgentStreamWriteFailure.Redis, ex.Failure);
        Assert.Contains("longer than WriteRetryTimeout (1.0 s)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("AgentStreaming:Redis:WriteRetryTimeout", ex.Message, StringComparison.Ordinal);
        Assert.True(down.Elapsed >= TimeSpan.FromSeconds(1), $"The writer faulted after {down.Elapsed}, inside its retry window.");
        Assert.True(writer.IsFaulted);
        await Assert.ThrowsAsync<AgentStreamWriteException>(async () => await writer.AppendAsync(AgentStreamEntry.ForText("after")));
        Assert.True(log.Has(WriteRetryingEvent));
        Assert.True(log.Has(WriteFailedEvent));
        Assert.False(log.Has(WriteRecoveredEvent));

        await server.RestartAsync();
        await StreamReaderTests.WaitUntilAsync(() => multiplexer.IsConnected, TimeSpan.FromSeconds(30));
        var raw = await multiplexer.GetDatabase().StreamRangeAsync(handler.Keys.Stream(runId));
        Assert.Equal(texts, raw[..10].Select(e => (string)e["text"]!));
        Assert.Equal(Enumerable.Range(0, raw.Length).Select(i => (long)i), raw.Select(e => (long)e["sequence"]));

        // A send the client still held when the window closed may reach Redis once it is back: in order, at most once
        // (and a newer attempt, had one taken over, would have fenced it out).
        Assert.InRange(raw.Length, 10, 11);
        Assert.All(raw[10..], e => Assert.Equal("lost", (string?)e["text"]));
    }

    [Fact]
    public async Task Writer_RedisRestartsWithoutItsData_FaultsRatherThanWriteAfterTheLostEntries()
    {
        await using var server = await RedisServer.StartAsync(appendOnly: false);
        await using var multiplexer = await server.ConnectAsync(o => { o.AsyncTimeout = 500; o.SyncTimeout = 500; });
        var log = new RecordingLogger<RedisStreamResponseHandler>();
        await using var handler = CreateHandler(multiplexer, log, o => o.WriteRetryTimeout = TimeSpan.FromSeconds(30));
        var runId = TestStreams.NewRunId();
        var writer = await handler.WriteLiveAsync(runId, "confirmed, then lost ");

        await server.StopAsync();
        await writer.AppendAsync(AgentStreamEntry.ForText("next"));
        await StreamReaderTests.WaitUntilAsync(() => log.Has(WriteRetryingEvent), TimeSpan.FromSeconds(10));
        await server.RestartAsync();

        var ex = await Assert.ThrowsAsync<AgentStreamWriteException>(() => writer.FlushAsync()).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(AgentStreamWriteFailure.Redis, ex.Failure);
        Assert.True(ex.Message.Contains("no longer holds the entries it had confirmed", StringComparison.Ordinal), ex.ToString());
        Assert.False(await multiplexer.GetDatabase().KeyExistsAsync(handler.Keys.Stream(runId)));
    }

    private const int WriteFailedEvent = 1001;

    private const int WriteRetryingEvent = 1010;

    private const int WriteRecoveredEvent = 1011;

    private static RedisStreamResponseHandler CreateHandler(IConnectionMultiplexer multiplexer, RecordingLogger<RedisStreamResponseHandler> log, Action<RedisAgentStreamingOptions> configure)
    {
        var options = new RedisAgentStreamingOptions();
        configure(options);
        return new RedisStreamResponseHandler(multiplexer, Microsoft.Extensions.Options.Options.Create(options), log);
    }

    private static async Task<int> ConnectedClientsAsync(IConnectionMultiplexer multiplexer)
    {
        var list = (string?)await multiplexer.GetDatabase().ExecuteAsync("CLIENT", "LIST");
        return list!.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }
}

using System.Diagnostics;
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
        var options = ConfigurationOptions.Parse(server.ConnectionString);
        options.ConnectRetry = 10;
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
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
        var options = ConfigurationOptions.Parse(server.ConnectionString);
        options.AsyncTimeout = 500;
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
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
    public async Task WriteFailure_RedisDown_SurfacesToTheProducer()
    {
        await using var server = await AgentStreaming.Testing.RedisServer.StartAsync();
        var options = ConfigurationOptions.Parse(server.ConnectionString);
        options.AsyncTimeout = 1000;
        options.ConnectRetry = 0;
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
        await using var handler = redis.CreateHandler(multiplexer: multiplexer);
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

    private static async Task<int> ConnectedClientsAsync(IConnectionMultiplexer multiplexer)
    {
        var list = (string?)await multiplexer.GetDatabase().ExecuteAsync("CLIENT", "LIST");
        return list!.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }
}

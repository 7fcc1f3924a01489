using AgentStreaming.Testing;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Streaming.Streams.Tails;

namespace AgentStreaming.Streaming.Tests;

/// <summary>
/// When Redis Cluster's tail subscribes to a run's sharded channel: while a key has readers here and this process does
/// not write it. A key this process writes is handed over in memory, so it is not subscribed (Redis would only send the
/// process its own announcements back); it is subscribed again once this process stops writing it, or its writer is
/// refused, so another process's writer reaches the readers through its announcements.
/// </summary>
public sealed class ClusterTailSubscriptionTests(ClusterFixture redis)
{
    [Fact]
    public async Task KeyWrittenHere_IsNotSubscribed_AndItsAnnouncementsDoNotComeBack()
    {
        await using var handler = redis.CreateHandler();
        var runId = TestStreams.NewRunId();
        var key = handler.Keys.Stream(runId);
        var writer = handler.CreateWriter(runId);
        await writer.BeginAsync();
        var reading = handler.ReadAllAsync(runId);
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);
        var tail = Announced(handler.Tail);
        // Nothing written here yet (the claim is not a batch): subscribed like any reader's key.
        await StreamReaderTests.WaitUntilAsync(() => tail.IsListening(key));

        await writer.AppendAsync(AgentStreamEntry.ForText("first "));
        await writer.FlushAsync();
        await StreamReaderTests.WaitUntilAsync(() => !tail.IsListening(key));
        var handedOver = tail.HandedOver;

        for (var i = 0; i < 10; i++)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText($"{i} "));
            await writer.FlushAsync();
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        var chunks = await reading;

        Assert.Equal("first 0 1 2 3 4 5 6 7 8 9 ", StreamTranscript.Visible(chunks));
        Assert.Equal(await handler.ReadAllAsync(runId), chunks);
        Assert.True(tail.HandedOver - handedOver >= 11, $"{tail.HandedOver - handedOver} flushes handed over.");
        Assert.False(tail.IsListening(key));
        // Only the first batch's announcement may have come back, sent before the subscription ended.
        Assert.InRange(tail.EchoesSkipped, 0, 1);
    }

    [Fact]
    public async Task KeyThisProcessStoppedWriting_IsSubscribedAgain_SoAnotherProcessesWriterIsAnnounced()
    {
        // The lease of a key written here, and the sweep that ends it, last a second.
        await using var other = await redis.ConnectAsync();
        await using var handler = redis.CreateHandler(o => o.TailBlockTimeout = TimeSpan.FromSeconds(1));
        await using var otherHandler = redis.CreateHandler(multiplexer: other);
        var runId = TestStreams.NewRunId();
        var key = handler.Keys.Stream(runId);
        var reading = handler.ReadAllAsync(runId);
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);
        var tail = Announced(handler.Tail);
        await StreamReaderTests.WaitUntilAsync(() => tail.IsListening(key));

        _ = await handler.WriteLiveAsync(runId, "one ", "two ");
        await StreamReaderTests.WaitUntilAsync(() => !tail.IsListening(key));
        // The writer here went quiet (its Worker lost the run): the key is subscribed again.
        await StreamReaderTests.WaitUntilAsync(() => tail.IsListening(key));

        var second = otherHandler.CreateWriter(runId, attempt: 2);
        await second.BeginAsync();
        await second.AppendAsync(AgentStreamEntry.ForText("again"));
        await second.CompleteAsync(AgentStreamEntry.ForDone());
        var chunks = await reading;

        // The reader had the abandoned attempt's entries live; the reset trimmed them from the stream.
        Assert.Equal(["one ", "two "], chunks.Take(2).Select(c => c.Text));
        Assert.Equal(await handler.ReadAllAsync(runId), chunks.Skip(2));
        Assert.Equal([StreamEntryKind.Reset, StreamEntryKind.Text, StreamEntryKind.Done], chunks.Skip(2).Select(c => c.Kind));
    }

    [Fact]
    public async Task WriterHere_FencedOutByAnotherProcess_HasTheKeyReadAndSubscribedAgain_WhenItIsRefused()
    {
        // No sweep within the test: only the refusal of this process's writer can bring the other process's entries.
        await using var other = await redis.ConnectAsync();
        await using var handler = redis.CreateHandler(o => { o.TailBlockTimeout = TimeSpan.FromHours(1); o.IdleCheckInterval = TimeSpan.FromHours(1); });
        await using var otherHandler = redis.CreateHandler(multiplexer: other);
        var runId = TestStreams.NewRunId();
        var key = handler.Keys.Stream(runId);
        var reading = handler.ReadAllAsync(runId);
        await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1);
        var tail = Announced(handler.Tail);
        await StreamReaderTests.WaitUntilAsync(() => tail.IsListening(key));
        var stale = await handler.WriteLiveAsync(runId, "one ");
        await StreamReaderTests.WaitUntilAsync(() => !tail.IsListening(key));

        var fresh = otherHandler.CreateWriter(runId, attempt: 2);
        await fresh.BeginAsync();
        await fresh.AppendAsync(AgentStreamEntry.ForText("fresh"));
        await fresh.FlushAsync();

        await stale.AppendAsync(AgentStreamEntry.ForText("stale"));
        var fenced = await Assert.ThrowsAsync<AgentStreamWriteException>(() => stale.FlushAsync());
        Assert.Equal(AgentStreamWriteFailure.Fenced, fenced.Failure);
        // The refusal ended the key's lease: the fresh writer's next entries are announced to this process again.
        await StreamReaderTests.WaitUntilAsync(() => tail.IsListening(key));
        await fresh.CompleteAsync(AgentStreamEntry.ForDone());
        var chunks = await reading;

        Assert.Equal("one ", chunks[0].Text);
        Assert.Equal(await handler.ReadAllAsync(runId), chunks.Skip(1));
        Assert.Equal([StreamEntryKind.Reset, StreamEntryKind.Text, StreamEntryKind.Done], chunks.Skip(1).Select(c => c.Kind));
        Assert.DoesNotContain(chunks, c => c.Text == "stale");
    }

    [Fact]
    public async Task KeysLastReaderLeaving_AsTheNextArrives_LeavesTheNewReaderSubscribed()
    {
        // No sweep within the test: the new reader gets the entries only through its own subscription.
        await using var other = await redis.ConnectAsync();
        await using var handler = redis.CreateHandler(o => { o.TailBlockTimeout = TimeSpan.FromHours(1); o.IdleCheckInterval = TimeSpan.FromHours(1); });
        await using var writerHandler = redis.CreateHandler(multiplexer: other);
        var tail = Announced(handler.Tail);
        for (var round = 0; round < 30; round++)
        {
            var runId = TestStreams.NewRunId();
            var key = handler.Keys.Stream(runId);
            var writer = writerHandler.CreateWriter(runId);
            await writer.BeginAsync();

            using var leaving = new CancellationTokenSource();
            var left = Drain(handler, runId, leaving.Token);
            await StreamReaderTests.WaitUntilAsync(() => tail.IsListening(key));

            // The first reader leaves as the next arrives: its unsubscription may still be on its way.
            await leaving.CancelAsync();
            var reading = handler.ReadAllAsync(runId);
            await left;
            await StreamReaderTests.WaitUntilAsync(() => handler.LiveReaderCount == 1 && tail.IsListening(key));
            await writer.AppendAsync(AgentStreamEntry.ForText($"round {round}"));
            await writer.CompleteAsync(AgentStreamEntry.ForDone());

            var chunks = await reading;
            Assert.Equal($"round {round}", StreamTranscript.Visible(chunks));
            Assert.Equal(0, handler.LiveReaderCount);
        }
    }

    private static async Task Drain(IAgentStreamReader reader, string runId, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var _ in reader.ReadStreamAsync(runId, cancellationToken: cancellationToken))
            {
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static IAnnouncedTail Announced(IStreamTail tail) => Assert.IsAssignableFrom<IAnnouncedTail>(tail);
}

using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>Many callers on one conversation while its runs execute: one state writer, no lost cancel, no second attempt.</summary>
public sealed class ConcurrencyTests(AppendOnlyRedisServerFixture redis)
{
    [Fact]
    public async Task ConcurrentRunsAndCancels_WhileRunsExecute_EveryCallAnswersCorrectly_AndNoRunNeedsASecondAttempt()
    {
        // Each token yields, so the execution loop writes state while accept and cancel turns write theirs.
        var model = new ScriptedChatClient { Answer = m => ["Answer ", "to ", m[^1].Text], BeforeToken = async (_, _) => await Task.Yield() };
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (cluster, agent, session) = test;
        var executing = await agent.StartRunAsync("first", session);
        // A busy Redis: writes are held in short pauses, so the writes of accept and cancel turns and those of the
        // execution loop are in flight at the same time (on an idle loopback Redis they rarely overlap).
        using var stopPausing = new CancellationTokenSource();
        var pauser = PauseRedisWritesAsync(stopPausing.Token);

        var calls = Enumerable.Range(0, 60).Select(async i =>
        {
            var run = await agent.StartRunAsync($"turn {i}", session);
            RunInfo? cancel = null;
            if (i % 2 == 0)
            {
                cancel = await agent.CancelAsync(session, run.RunId);
                Assert.NotNull(cancel);
                Assert.Equal(run.RunId, cancel.RunId);
            }

            return (run.RunId, Cancel: cancel);
        }).ToList();
        var answered = await Task.WhenAll(calls);
        await stopPausing.CancelAsync();
        await pauser;

        foreach (var (runId, cancel) in answered.Prepend((executing.RunId, null)))
        {
            var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, runId);
            Assert.Single(chunks, c => c.IsTerminal);
            Assert.DoesNotContain(chunks, c => c.Kind == DurableRunChunkKind.Reset);
            Assert.All(chunks, c => Assert.Equal(1, c.Attempt));
            var run = await agent.GetRunAsync(session, runId);
            Assert.NotNull(run);
            Assert.True(run.Attempts <= 1, $"Run {runId} took {run.Attempts} attempts.");
            if (cancel is not null && (!cancel.Status.IsFinal() || cancel.Status == RunStatus.Cancelled))
            {
                // Answered as "cancellation requested" (the API's 202): it must end cancelled.
                Assert.Equal(RunStatus.Cancelled, run.Status);
                Assert.Equal(DurableRunChunkKind.Cancelled, chunks[^1].Kind);
            }
        }

        var conversation = await agent.GetConversationAsync(session);
        Assert.All(conversation.Runs, r => Assert.True(r.Status.IsFinal()));
    }

    [Fact]
    public async Task Cancel_WhileTheRunFinishesAndItsWriteIsSlow_IsNotLost()
    {
        // The model holds its last token until the run's token is cancelled (at most 2 s): the cancel must reach the
        // generation at once, not after its state write, which a paused Redis holds for 3 s.
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var model = new ScriptedChatClient { Answer = _ => ["Day ", "one ", "ends"], FreeTokens = 2 };
        model.BeforeToken = async (_, ct) =>
        {
            reached.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct).WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        };
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (cluster, agent, session) = test;
        var run = await agent.StartRunAsync("go", session);
        await reached.Task.WaitAsync(TimeSpan.FromSeconds(20));

        using (var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString + ",allowAdmin=true"))
        {
            await admin.GetServer(admin.GetEndPoints()[0]).ExecuteAsync("CLIENT", "PAUSE", "3000", "WRITE");
        }

        var cancel = await agent.CancelAsync(session, run.RunId);

        Assert.NotNull(cancel);
        Assert.True(cancel.CancelRequested);
        var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, run.RunId);
        var ended = await agent.GetRunAsync(session, run.RunId);
        if (!cancel.Status.IsFinal())
        {
            // Answered as "cancellation requested" (the API's 202): the run must end cancelled.
            Assert.Equal(RunStatus.Cancelled, ended!.Status);
            Assert.Equal(DurableRunChunkKind.Cancelled, chunks[^1].Kind);
        }
        else
        {
            Assert.Equal(RunStatus.Cancelled, cancel.Status);
        }
    }

    [Fact]
    public async Task Cancel_WhileTheLastEntriesAreFlushed_EndsTheRunCancelled_OrAnswersThatItFinished()
    {
        // The model's last token pauses Redis writes for 2 s: the attempt has its whole answer, and its final flush is
        // held. A cancel that arrives then is answered either "already finished" (with the final status) or "cancellation
        // requested", and then the run must end cancelled.
        var paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString + ",allowAdmin=true");
        var model = new ScriptedChatClient { Answer = _ => ["Day ", "one ", "ends"], FreeTokens = 2 };
        model.BeforeToken = async (_, _) =>
        {
            await admin.GetServer(admin.GetEndPoints()[0]).ExecuteAsync("CLIENT", "PAUSE", "2000", "WRITE");
            paused.TrySetResult();
        };
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (cluster, agent, session) = test;
        var run = await agent.StartRunAsync("go", session);
        await paused.Task.WaitAsync(TimeSpan.FromSeconds(20));

        var cancel = await agent.CancelAsync(session, run.RunId);

        Assert.NotNull(cancel);
        var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, run.RunId);
        var ended = await agent.GetRunAsync(session, run.RunId);
        Assert.NotNull(ended);
        Assert.Single(chunks, c => c.IsTerminal);
        if (cancel.Status.IsFinal())
        {
            Assert.Equal(cancel.Status, ended.Status);
        }
        else
        {
            Assert.Equal(RunStatus.Cancelled, ended.Status);
            Assert.Equal(DurableRunChunkKind.Cancelled, chunks[^1].Kind);
        }

        Assert.Equal(ended.Status == RunStatus.Cancelled ? DurableRunChunkKind.Cancelled : DurableRunChunkKind.Done, chunks[^1].Kind);
    }

    private async Task PauseRedisWritesAsync(CancellationToken cancellationToken)
    {
        using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString + ",allowAdmin=true");
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        while (!cancellationToken.IsCancellationRequested)
        {
            await server.ExecuteAsync("CLIENT", "PAUSE", "2", "WRITE");
            try
            {
                await Task.Delay(15, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}

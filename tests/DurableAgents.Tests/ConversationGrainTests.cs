using System.Diagnostics;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AgentStreaming.DurableAgents.Tests;

public sealed class ConversationGrainTests(AppendOnlyRedisServerFixture redis)
{
    [Fact]
    public async Task RunAsync_FireAndForget_AnswersAtOnceAndTheStreamEndsWithDone()
    {
        var model = new ScriptedChatClient();
        var gate = model.HoldTokens();
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (cluster, agent, session) = test;

        var result = await agent.StartRunAsync("Plan a trip", session);

        Assert.Equal("agent-stream:" + result.RunId, result.StreamKey);
        Assert.Equal(RunStatus.Queued, result.Status);
        gate.SetResult();
        var chunks = await ReadAllAsync(cluster.Client, result.RunId);
        Assert.Equal("Answer to: Plan a trip", Text(chunks));
        Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);

        var conversation = await agent.GetConversationAsync(session);
        Assert.Equal(["user", "assistant"], conversation.History.Select(m => m.Role));
        Assert.Equal("Answer to: Plan a trip", conversation.History[1].Text);
        var run = Assert.Single(conversation.Runs);
        Assert.Equal(RunStatus.Completed, run.Status);
        Assert.Equal(1, run.Attempts);
    }

    [Fact]
    public async Task RunAsync_WaitForResponse_ReturnsTheFinalResponse()
    {
        await using var test = await TestConversation.StartAsync(redis.Server);
        var (_, agent, session) = test;

        var result = await agent.RunAsync("Hello", session);

        Assert.Equal("Answer to: Hello", result.Text);
        Assert.Null(result.ContinuationToken);
        Assert.Equal(RunStatus.Completed, (await agent.GetRunAsync(session, result.ResponseId!))!.Status);
    }

    [Fact]
    public async Task RunAsync_ManyRunsOfOneConversation_ExecuteOneAtATimeInOrder()
    {
        var model = new ScriptedChatClient();
        var active = 0;
        var maxActive = 0;
        model.BeforeToken = async (i, ct) =>
        {
            if (i == 0)
            {
                var now = Interlocked.Increment(ref active);
                maxActive = Math.Max(maxActive, now);
            }

            await Task.Yield();
            if (i == 2)
            {
                Interlocked.Decrement(ref active);
            }
        };
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (cluster, agent, session) = test;

        var runs = new List<RunHandle>();
        for (var i = 0; i < 5; i++)
        {
            runs.Add(await agent.StartRunAsync($"turn {i}", session));
        }

        foreach (var run in runs)
        {
            Assert.Equal(DurableRunChunkKind.Done, (await ReadAllAsync(cluster.Client, run.RunId))[^1].Kind);
        }

        var conversation = await agent.GetConversationAsync(session);
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"Answer to: turn {i}"), conversation.History.Where(m => m.Role == "assistant").Select(m => m.Text));
        Assert.Equal(1, maxActive);
        // Every turn saw the answers of the turns before it.
        Assert.Equal([1, 3, 5, 7, 9], model.Calls.Select(c => c.Count(m => m.Role != ChatRole.System)));
    }

    [Fact]
    public async Task ConversationIndex_ListsConversationsMostRecentFirst()
    {
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient());
        var agent = cluster.Client.GetAgent("TestAgent");
        var older = agent.NewSession();
        var newer = agent.NewSession();
        await agent.RunAsync("one", older);
        await agent.RunAsync("two", newer);

        var index = cluster.Silos[0].Services.GetRequiredService<AgentStreaming.DurableAgents.Recovery.ConversationIndex>();
        var listed = await index.ListAsync();

        Assert.Equal([newer.ConversationId, older.ConversationId], listed.Select(e => e.ConversationId));
        Assert.All(listed, e => Assert.Equal("TestAgent", e.AgentName));
    }

    [Fact]
    public async Task RunAsync_RecordsTheRunInTheRunIndex_WhoeverStartedIt()
    {
        await using var test = await TestConversation.StartAsync(redis.Server);
        var (cluster, agent, session) = test;

        var run = await agent.StartRunAsync("find me", session);

        var runs = cluster.Silos[0].Services.GetRequiredService<AgentStreaming.DurableAgents.Recovery.RunIndex>();
        Assert.Equal(new RunLocation("TestAgent", session.ConversationId), await runs.FindAsync(run.RunId));
        Assert.Null(await runs.FindAsync(RunIds.New()));
    }

    [Fact]
    public async Task ReadStoredAsync_WhileLive_GivesWhatIsStoredAndReturns_ThenTheWholeRun_ForegroundIsKept()
    {
        var model = new ScriptedChatClient { FreeTokens = 2 };
        var gate = model.HoldTokens();
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (cluster, agent, session) = test;

        var run = await agent.StartRunAsync("Plan a trip", session, runId: null, foreground: true);
        var live = new List<DurableRunChunk>();
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await foreach (var chunk in cluster.Client.StreamAsync(run.RunId, cancellationToken: deadline.Token))
            {
                live.Add(chunk);
                if (live.Count(c => c.Kind == DurableRunChunkKind.Text) == 2)
                {
                    break;
                }
            }
        }

        var location = await cluster.Client.FindRunAsync(run.RunId);
        // The third token is held: the stream holds exactly what the live reader saw, and the read does not wait for more.
        Assert.Equal(live.Select(c => c.Cursor), (await StoredAsync(cluster.Client, run.RunId, location)).Select(c => c.Cursor));
        Assert.True((await agent.GetRunAsync(session, run.RunId))!.Foreground);

        gate.SetResult();
        var all = await ReadAllAsync(cluster.Client, run.RunId);
        Assert.Equal(all.Select(c => c.Cursor), (await StoredAsync(cluster.Client, run.RunId, location)).Select(c => c.Cursor));
        Assert.Empty(await StoredAsync(cluster.Client, RunIds.New(), location: null));
        Assert.False((await agent.GetRunAsync(session, (await agent.StartRunAsync("Again", session)).RunId))!.Foreground);
    }

    private static async Task<List<DurableRunChunk>> StoredAsync(DurableAgentClient client, string runId, RunLocation? location)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var chunks = new List<DurableRunChunk>();
        await foreach (var chunk in client.ReadStoredAsync(runId, location, deadline.Token))
        {
            chunks.Add(chunk);
        }

        return chunks;
    }

    [Fact]
    public async Task RunAsync_SameRunIdTwice_ReturnsTheSameRunOnce()
    {
        await using var test = await TestConversation.StartAsync(redis.Server);
        var (cluster, agent, session) = test;
        var runId = RunIds.New();

        var first = await agent.StartRunAsync("once", session, runId: runId);
        var second = await agent.StartRunAsync("once", session, runId: runId);

        Assert.Equal(first.RunId, second.RunId);
        await ReadAllAsync(cluster.Client, runId);
        var conversation = await agent.GetConversationAsync(session);
        Assert.Single(conversation.Runs);
        Assert.Equal(2, conversation.History.Count);
    }

    [Fact]
    public async Task History_SurvivesAFullClusterRestart()
    {
        var model = new ScriptedChatClient();
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (cluster, agent, session) = test;
        await agent.RunAsync("first", session);

        await cluster.StopSiloAsync(cluster.Silos[0]);
        await cluster.StartSiloAsync();
        // The client retries while no silo answers (DurableAgentClient.CallAsync); nothing else is retried here.
        var conversation = await agent.GetConversationAsync(session);
        Assert.Equal(["first", "Answer to: first"], conversation.History.Select(m => m.Text));

        await agent.RunAsync("second", session);
        Assert.Equal(["first", "Answer to: first", "second"], model.Calls[^1].Select(m => m.Text));
    }

    [Fact]
    public async Task RunAsync_ModelFails_StreamEndsWithErrorAndRunIsFailed()
    {
        var model = new ScriptedChatClient { Failure = new InvalidOperationException("quota exceeded"), FailAfterTokens = 2 };
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (cluster, agent, session) = test;

        var result = await agent.StartRunAsync("boom", session);
        var chunks = await ReadAllAsync(cluster.Client, result.RunId);

        Assert.Equal(DurableRunChunkKind.Error, chunks[^1].Kind);
        // The SDK's text stays in the log; readers get a fixed message with an error id.
        Assert.DoesNotContain("quota exceeded", chunks[^1].Error, StringComparison.Ordinal);
        Assert.Matches("^The agent failed\\. Error id [0-9a-f]{16}\\.$", chunks[^1].Error);
        Assert.Single(chunks, c => c.IsTerminal);
        var run = await agent.GetRunAsync(session, result.RunId);
        Assert.Equal(RunStatus.Failed, run!.Status);
        Assert.Equal(chunks[^1].Error, run.Error);
    }

    [Fact]
    public async Task RunAsync_ModelFails_TheUsersTurnStaysInHistoryMarkedFailed_AndIsNotReplayed()
    {
        var model = new ScriptedChatClient { Failure = new InvalidOperationException("model down"), FailAfterTokens = 1 };
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (_, agent, session) = test;

        var failed = await agent.RunAsync("first question", session);
        model.Failure = null;
        await agent.RunAsync("second question", session);

        Assert.Equal(RunStatus.Failed, (await agent.GetRunAsync(session, failed.ResponseId!))!.Status);
        var conversation = await agent.GetConversationAsync(session);
        var asked = conversation.History[0];
        Assert.Equal(("user", "first question", failed.ResponseId, true), (asked.Role, asked.Text, asked.RunId, asked.Failed));
        Assert.Equal(["first question", "second question", "Answer to: second question"], conversation.History.Select(m => m.Text));
        Assert.Equal(["second question"], model.Calls[^1].Select(m => m.Text));
    }

    [Fact]
    public async Task RunAsync_StreamExpiresMidRun_TheRunEndsFailedInStateAfterOneAttempt()
    {
        var model = new ScriptedChatClient { FreeTokens = 1, Answer = _ => ["Day ", "one ", "lost"] };
        var release = new TaskCompletionSource();
        model.BeforeToken = (_, ct) => release.Task.WaitAsync(ct);
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, model);
        await using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString);
        var agent = cluster.Client.GetAgent("TestAgent");
        var session = agent.NewSession();
        var result = await agent.StartRunAsync("go", session);
        var deadline = Stopwatch.StartNew();
        while (await connection.GetDatabase().StreamLengthAsync(result.StreamKey) == 0)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "The first token never reached the stream.");
            await Task.Delay(20);
        }

        // What key-by-key eviction does: the stream goes, its metadata stays.
        await connection.GetDatabase().KeyDeleteAsync(result.StreamKey);
        release.SetResult();
        RunInfo? run;
        while ((run = await agent.GetRunAsync(session, result.RunId)) is not { Status: RunStatus.Failed })
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), $"The run is {run?.Status}.");
            await Task.Delay(20);
        }

        Assert.Equal(1, run.Attempts);
        Assert.Contains("stream expired", run.Error, StringComparison.Ordinal);
        Assert.Single(model.Calls);
        Assert.False(await connection.GetDatabase().KeyExistsAsync(result.StreamKey));
    }

    [Fact]
    public async Task RunAsync_UnknownAgent_FailsAtTheCallerNamingTheHostedAgents()
    {
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient());
        var agent = cluster.Client.GetAgent("NoSuchAgent");

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => agent.RunAsync("hi", agent.NewSession()));
        Assert.Contains("Unknown agent 'NoSuchAgent'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("TestAgent", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task RunAsync_EmptyMessage_IsRefused(string message)
    {
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient());
        var agent = cluster.Client.GetAgent("TestAgent");
        await Assert.ThrowsAsync<ArgumentException>(() => agent.RunAsync(message, agent.NewSession()));
    }

    [Fact]
    public async Task CancelAsync_RunningRun_StopsWithinASecondKeepingPartialTextMarkedCancelled()
    {
        var model = new ScriptedChatClient { FreeTokens = 2, Answer = _ => ["Day ", "one ", "never", "said"] };
        var reachedGate = new TaskCompletionSource();
        model.BeforeToken = async (_, ct) =>
        {
            reachedGate.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        };
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (cluster, agent, session) = test;
        var result = await agent.StartRunAsync("go", session);
        await reachedGate.Task.WaitAsync(TimeSpan.FromSeconds(20));

        var stopwatch = Stopwatch.StartNew();
        await agent.CancelAsync(session, result.RunId);
        var chunks = await ReadAllAsync(cluster.Client, result.RunId);
        stopwatch.Stop();

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"Took {stopwatch.Elapsed}.");
        Assert.Equal(DurableRunChunkKind.Cancelled, chunks[^1].Kind);
        Assert.Equal("Day one ", Text(chunks));
        var conversation = await agent.GetConversationAsync(session);
        var answer = conversation.History.Single(m => m.Role == "assistant");
        Assert.True(answer.Cancelled);
        Assert.Equal("Day one ", answer.Text);
        Assert.Equal(RunStatus.Cancelled, conversation.Runs[0].Status);
    }

    [Fact]
    public async Task CancelAsync_QueuedRun_EndsItAtOnceWithoutRunningIt()
    {
        var model = new ScriptedChatClient();
        var gate = model.HoldTokens();
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (cluster, agent, session) = test;
        var first = await agent.StartRunAsync("first", session);
        var second = await agent.StartRunAsync("second", session);

        var cancelled = await agent.CancelAsync(session, second.RunId);
        Assert.Equal(RunStatus.Cancelled, cancelled!.Status);
        Assert.Equal(DurableRunChunkKind.Cancelled, (await ReadAllAsync(cluster.Client, second.RunId))[^1].Kind);

        gate.SetResult();
        Assert.Equal(DurableRunChunkKind.Done, (await ReadAllAsync(cluster.Client, first.RunId))[^1].Kind);
        Assert.DoesNotContain(model.Calls, c => c[^1].Text == "second");
    }

    [Fact]
    public async Task ExpireIfIdleAsync_AfterTheTtl_DeletesTheConversation()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var test = await TestConversation.StartAsync(redis.Server, configureServices: services => services.AddSingleton<TimeProvider>(clock));
        var (cluster, agent, session) = test;
        await agent.RunAsync("remember me", session);
        var grain = cluster.Silos[0].Services.GetRequiredService<IGrainFactory>().GetGrain<IAgentConversationGrain>(DurableAgentNames.ConversationKey("TestAgent", session.ConversationId));

        clock.Advance(TimeSpan.FromDays(13));
        Assert.False(await grain.ExpireIfIdleAsync());
        Assert.Equal(2, (await agent.GetConversationAsync(session)).History.Count);

        clock.Advance(TimeSpan.FromDays(2));
        Assert.True(await grain.ExpireIfIdleAsync());
        var conversation = await agent.GetConversationAsync(session);
        Assert.Empty(conversation.History);
        Assert.False(conversation.Exists);
    }

    internal static Task<List<DurableRunChunk>> ReadAllAsync(DurableAgentClient client, string runId) => RunStreams.ReadAllAsync(client, runId, TimeSpan.FromSeconds(30));

    internal static string Text(IEnumerable<DurableRunChunk> chunks) => AgentStreaming.Testing.StreamTranscript.Visible(chunks);
}

using System.Text.Json.Nodes;
using AgentStreaming.DurableAgents.Grains;
using AgentStreaming.DurableAgents.Storage;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>History as an append-only log: a turn costs its own bytes, the grain state stays small.</summary>
public sealed class HistoryLogTests(AppendOnlyRedisServerFixture redis)
{
    [Fact]
    public async Task Store_AppendThenLoad_TurnsInOrder_TheLastRecordOfARunWins_AndTheLogExpires()
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString);
        var store = new ConversationHistoryStore(connection, "test-" + Guid.NewGuid().ToString("N")[..8]);
        const string conversation = "TestAgent/c1";
        var first = Turn("r1", "one", RunStatus.Failed);
        var second = Turn("r2", "two", RunStatus.Completed);
        var secondAgain = Turn("r2", "two, recorded again", RunStatus.Completed);

        await store.AppendAsync(conversation, [first], TimeSpan.FromMinutes(5));
        await store.AppendAsync(conversation, [second, secondAgain], TimeSpan.FromMinutes(5));
        var turns = await store.LoadAsync(conversation);

        Assert.Equal(["r1", "r2"], turns.Select(t => t.RunId));
        Assert.Equal("two, recorded again", turns[1].Messages[^1].Text);
        Assert.Equal(RunStatus.Failed, turns[0].Run!.Status);
        var ttl = await connection.GetDatabase().KeyTimeToLiveAsync(store.Key(conversation));
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));

        await store.DeleteAsync(conversation);
        Assert.Empty(await store.LoadAsync(conversation));
    }

    [Fact]
    public async Task ManyTurns_TheGrainStateDoesNotGrow_AndEachTurnAppendsOneLogElement()
    {
        await using var test = await TestConversation.StartAsync(redis.Server, new ScriptedChatClient { Answer = m => [$"A long answer to {m[^1].Text}. ", new string('x', 2_000)] });
        var (cluster, agent, session) = test;
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString);
        var store = cluster.Silos[0].Services.GetRequiredService<ConversationHistoryStore>();
        var logKey = store.Key(DurableAgentNames.ConversationKey("TestAgent", session.ConversationId));

        for (var i = 0; i < 3; i++)
        {
            await agent.RunAsync($"turn {i}", session);
        }

        var stateKey = await FindStateKeyAsync(connection, session.ConversationId, logKey);
        var early = await SettledSizeAsync(connection, stateKey);
        for (var i = 3; i < 25; i++)
        {
            await agent.RunAsync($"turn {i}", session);
        }

        var late = await SettledSizeAsync(connection, stateKey);

        // 22 more turns of ~2 KB each would add ~44 KB to a state that held the history; the log holds them instead.
        Assert.True(late <= early + 64, $"The grain state grew from {early} to {late} bytes over 22 turns.");
        Assert.Equal(25, await connection.GetDatabase().ListLengthAsync(logKey));
        var conversation = await agent.GetConversationAsync(session);
        Assert.Equal(50, conversation.History.Count);
        Assert.Equal(25, conversation.Runs.Count);
        Assert.All(conversation.Runs, r => Assert.Equal(RunStatus.Completed, r.Status));
        Assert.StartsWith("A long answer to turn 24.", conversation.Runs[^1].ResponseText);
    }

    [Fact]
    public async Task Activation_StateWithTheRemovedHistoryMember_ReadsItsRuns()
    {
        // Until the history log replaced it, the state carried a History list, written as [] ever since; stored state
        // still has the member, and reading it must ignore it.
        await using var test = await TestConversation.StartAsync(redis.Server);
        var (cluster, agent, session) = test;
        var key = DurableAgentNames.ConversationKey("TestAgent", session.ConversationId);
        var at = DateTimeOffset.UtcNow;
        var queued = new RunInfo { RunId = RunIds.New(), Message = "queued question", Status = RunStatus.Queued, CreatedAt = at };
        await cluster.Silos[0].Services.GetRequiredKeyedService<IGrainStorage>(DurableAgentNames.StorageProvider)
            .WriteStateAsync("conversation", GrainId.Create("agentconversation", key), new GrainState<ConversationState>(new ConversationState { Runs = [queued], LastActivity = at }));
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString);
        var logKey = cluster.Silos[0].Services.GetRequiredService<ConversationHistoryStore>().Key(key);
        var stateKey = await FindStateKeyAsync(connection, session.ConversationId, logKey);
        var state = JsonNode.Parse((string)(await connection.GetDatabase().HashGetAsync(stateKey, "data"))!)!.AsObject();
        Assert.True(state.ContainsKey("Runs"), state.ToJsonString());
        state.Insert(0, "History", new JsonArray());
        await connection.GetDatabase().HashSetAsync(stateKey, "data", state.ToJsonString());

        var followUp = await agent.RunAsync("new question", session);

        var conversation = await agent.GetConversationAsync(session);
        Assert.Equal([queued.RunId, followUp.ResponseId], conversation.Runs.Select(r => r.RunId));
        Assert.All(conversation.Runs, r => Assert.Equal(RunStatus.Completed, r.Status));
        Assert.Equal(["queued question", "Answer to: queued question", "new question", "Answer to: new question"], conversation.History.Select(m => m.Text));
    }

    [Fact]
    public async Task Activation_RunRecordedButStillQueued_WritesItsTerminalEntryFromTheRecord_WithoutRunningTheModel()
    {
        // The state a crash leaves between recording a run's turn and writing its terminal entry: the run still in the
        // queue as running, its turn in the log, its text in the stream, no terminal entry.
        await using var test = await TestConversation.StartAsync(redis.Server);
        var (cluster, agent, session) = test;
        var key = DurableAgentNames.ConversationKey("TestAgent", session.ConversationId);
        var services = cluster.Silos[0].Services;
        var runId = RunIds.New();
        var at = DateTimeOffset.UtcNow;
        var running = new RunInfo { RunId = runId, Message = "question", Status = RunStatus.Running, Attempts = 1, CreatedAt = at, StartedAt = at };
        var writer = services.GetRequiredService<RedisStreamResponseHandler>().CreateWriter(runId, attempt: 1);
        await writer.BeginAsync();
        await writer.AppendAsync(AgentStreamEntry.ForText("the whole "));
        await writer.AppendAsync(AgentStreamEntry.ForText("answer"));
        await writer.FlushAsync();
        await services.GetRequiredService<ConversationHistoryStore>().AppendAsync(key, [new ConversationTurn(running with { Status = RunStatus.Completed, CompletedAt = at },
        [
            new ConversationMessage { Role = "user", Text = "question", RunId = runId, CreatedAt = at },
            new ConversationMessage { Role = "assistant", Text = "the whole answer", RunId = runId, CreatedAt = at },
        ])], TimeSpan.FromMinutes(5));
        await services.GetRequiredKeyedService<IGrainStorage>(DurableAgentNames.StorageProvider)
            .WriteStateAsync("conversation", GrainId.Create("agentconversation", key), new GrainState<ConversationState>(new ConversationState { Runs = [running], LastActivity = at }));

        var run = await agent.GetRunAsync(session, runId);

        Assert.Equal(RunStatus.Completed, run!.Status);
        Assert.Equal("the whole answer", run.ResponseText);
        var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, runId);
        Assert.Equal("the whole answer", ConversationGrainTests.Text(chunks));
        Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);
        Assert.Single(chunks, c => c.IsTerminal);
        Assert.All(chunks, c => Assert.Equal(1, c.Attempt));
        Assert.Empty(cluster.Model.Calls);
        Assert.Single((await agent.GetConversationAsync(session)).Runs);
    }

    private static ConversationTurn Turn(string runId, string text, RunStatus status)
        => new(new RunInfo { RunId = runId, Message = text, Status = status, Attempts = 1 },
            [new ConversationMessage { Role = "user", Text = text, RunId = runId }, new ConversationMessage { Role = "assistant", Text = text, RunId = runId }]);

    private static async Task<RedisKey> FindStateKeyAsync(IConnectionMultiplexer connection, string conversationId, RedisKey logKey)
    {
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        var keys = new List<RedisKey>();
        await foreach (var key in server.KeysAsync(pattern: "*" + conversationId + "*"))
        {
            keys.Add(key);
        }

        return Assert.Single(keys, k => k != logKey && !k.ToString().StartsWith("agent-", StringComparison.Ordinal));
    }

    /// <summary>
    /// The state's size once the last run has left it: RunAsync returns at the run's terminal entry, and the grain
    /// saves the state without the run just after, so the size is read when the saved queue is empty.
    /// </summary>
    private static async Task<long> SettledSizeAsync(IConnectionMultiplexer connection, RedisKey key)
    {
        var database = connection.GetDatabase();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var stored = await database.KeyTypeAsync(key) == RedisType.Hash
                ? string.Concat((await database.HashGetAllAsync(key)).Select(e => e.Value.ToString()))
                : (string?)await database.StringGetAsync(key) ?? string.Empty;
            if (stored.Contains("\"Runs\":[]", StringComparison.Ordinal))
            {
                return (long)await database.ExecuteAsync("MEMORY", "USAGE", key, "SAMPLES", "0");
            }

            Assert.True(DateTime.UtcNow < deadline, $"The grain state still holds a run 10 s after the last one ended: {stored}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}

using System.Text.Json;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using static AgentStreaming.DurableAgents.Tests.AgentUpdates;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>The durable agent as an Agent Framework <see cref="AIAgent"/>: what any AIAgent must do, and background responses.</summary>
public sealed class DurableAIAgentTests(AppendOnlyRedisServerFixture redis)
{
    [Fact]
    public async Task RunAsync_Text_EqualsTheConcatenatedRunStreamingAsyncText_OfTheSameRun()
    {
        var model = new ScriptedChatClient { Answer = m => ["Day 1:\n", "Belém ", "and ", "pastéis.\n\n", "Day 2: ", "Sintra – ", m[^1].Text] };
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, model);
        AIAgent agent = cluster.Client.GetAgent("TestAgent");
        var session = await agent.CreateSessionAsync();

        // A waited run, then the same run streamed from its start.
        var waited = await agent.RunAsync("Lisbon", session);
        var replayed = await ReadAsync(ct => agent.RunStreamingAsync(session, Background(DurableAgentContinuationToken.ForRun(waited.ResponseId!)), ct));

        Assert.Equal("Day 1:\nBelém and pastéis.\n\nDay 2: Sintra – Lisbon", waited.Text);
        Assert.Equal(waited.Text, string.Concat(replayed.Select(u => u.Text)));
        Assert.All(replayed, u => Assert.Equal((waited.ResponseId, ChatRole.Assistant, "TestAgent", "TestAgent"), (u.ResponseId, u.Role, u.AuthorName, u.AgentId)));

        // A streamed run, then the same run's final response.
        var streamed = await ReadAsync(ct => agent.RunStreamingAsync("Porto", session, cancellationToken: ct));
        var runId = Assert.Single(streamed.Select(u => u.ResponseId).Distinct())!;
        var final = await agent.RunAsync(session, Background(DurableAgentContinuationToken.ForRun(runId)));

        Assert.Equal(final.Text, string.Concat(streamed.Select(u => u.Text)));
        Assert.EndsWith("Sintra – Porto", final.Text, StringComparison.Ordinal);
        Assert.Equal((runId, ChatFinishReason.Stop, (ResponseContinuationToken?)null), (final.ResponseId, final.FinishReason, final.ContinuationToken));
        Assert.Equal(ChatFinishReason.Stop, streamed[^1].FinishReason);
        Assert.Equal(final.Text, streamed.ToAgentResponse().Text);
    }

    [Fact]
    public async Task RunStreamingAsync_ToolCallsResultsAndUsage_BecomeFunctionCallResultAndUsageContent()
    {
        var model = new ScriptedChatClient
        {
            Contents = messages => messages.Any(m => m.Contents.OfType<FunctionResultContent>().Any())
                ? [new TextContent("Sunny "), new TextContent("in Lisbon."), new UsageContent(new UsageDetails { InputTokenCount = 12, OutputTokenCount = 3, TotalTokenCount = 15 })]
                : [new FunctionCallContent("call-1", "get_weather", new Dictionary<string, object?> { ["city"] = "Lisbon" })],
        };
        var weather = AIFunctionFactory.Create((string city) => $"sunny, 24 °C in {city}", "get_weather");
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, model, services =>
            services.Configure<DurableAgentsOptions>(o => o.AddAgent("ToolAgent", _ => new ChatClientAgent(model, "You answer.", "ToolAgent", tools: [weather]))));
        var agent = cluster.Client.GetAgent("ToolAgent");

        var updates = await ReadAsync(ct => agent.RunStreamingAsync("Weather in Lisbon?", agent.NewSession(), cancellationToken: ct));

        var call = Assert.Single(updates.SelectMany(u => u.Contents).OfType<FunctionCallContent>());
        Assert.Equal(("call-1", "get_weather"), (call.CallId, call.Name));
        Assert.Equal("Lisbon", Assert.IsType<JsonElement>(call.Arguments!["city"]).GetString());
        var result = Assert.Single(updates.SelectMany(u => u.Contents).OfType<FunctionResultContent>());
        Assert.Equal("call-1", result.CallId);
        Assert.Contains("sunny, 24 °C in Lisbon", Assert.IsType<string>(result.Result), StringComparison.Ordinal);
        var usage = Assert.Single(updates.SelectMany(u => u.Contents).OfType<UsageContent>()).Details;
        Assert.Equal((12L, 3L, 15L), (usage.InputTokenCount, usage.OutputTokenCount, usage.TotalTokenCount));
        Assert.Equal("Sunny in Lisbon.", string.Concat(updates.Select(u => u.Text)));
        // One update per stream entry, in order.
        Assert.Equal(
            [DurableRunChunkKind.ToolCall, DurableRunChunkKind.ToolResult, DurableRunChunkKind.Text, DurableRunChunkKind.Text, DurableRunChunkKind.Usage, DurableRunChunkKind.Done],
            updates.Select(u => Entry(u).Kind));
    }

    [Fact]
    public async Task Session_RoundTripsThroughSerialization_AndContinuesTheConversation()
    {
        var model = new ScriptedChatClient();
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, model);
        AIAgent agent = cluster.Client.GetAgent("TestAgent");
        var session = await agent.CreateSessionAsync();
        session.StateBag.SetValue("note", "window seat");
        await agent.RunAsync("first", session);

        var json = (await agent.SerializeSessionAsync(session)).GetRawText();
        // Another client, as another process would be, restores it from the stored JSON.
        await using var other = await cluster.ConnectOtherClientAsync();
        AIAgent again = other.Client.GetAgent("TestAgent");
        var restored = await again.DeserializeSessionAsync(JsonDocument.Parse(json).RootElement);
        var second = await again.RunAsync("second", restored);

        Assert.Equal(((DurableAgentSession)session).ConversationId, Assert.IsType<DurableAgentSession>(restored).ConversationId);
        Assert.Equal("window seat", restored.StateBag.GetValue<string>("note"));
        Assert.Equal("Answer to: second", second.Text);
        Assert.Equal(["first", "Answer to: first", "second"], model.Calls[^1].Where(m => m.Role != ChatRole.System).Select(m => m.Text));
        Assert.Equal(json, (await again.SerializeSessionAsync(restored)).GetRawText());
    }

    [Fact]
    public async Task Session_OfAnotherAgentOrType_IsRejectedClearly()
    {
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient());
        var agent = cluster.Client.GetAgent("TestAgent");
        var otherAgent = cluster.Client.GetAgent("OtherAgent");
        var foreign = await new ChatClientAgent(new ScriptedChatClient()).CreateSessionAsync();

        var ofOther = await Assert.ThrowsAsync<InvalidOperationException>(() => agent.RunAsync("hi", otherAgent.NewSession()));
        Assert.Contains("agent 'OtherAgent', not with 'TestAgent'", ofOther.Message, StringComparison.Ordinal);
        var ofType = await Assert.ThrowsAsync<InvalidOperationException>(() => agent.RunAsync("hi", foreign));
        Assert.Contains("'ChatClientAgentSession' is not compatible", ofType.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await agent.SerializeSessionAsync(foreign));
        await Assert.ThrowsAsync<InvalidOperationException>(() => agent.GetConversationAsync(otherAgent.NewSession()));

        var serialized = await otherAgent.SerializeSessionAsync(otherAgent.NewSession());
        var wrongAgent = await Assert.ThrowsAsync<ArgumentException>(async () => await agent.DeserializeSessionAsync(serialized));
        Assert.Contains("with agent 'OtherAgent', not with 'TestAgent'", wrongAgent.Message, StringComparison.Ordinal);
        var notASession = await Assert.ThrowsAsync<ArgumentException>(async () => await agent.DeserializeSessionAsync(JsonDocument.Parse("""{"conversationId":"x"}""").RootElement));
        Assert.Contains("not a durable agent's session", notASession.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(async () => await agent.DeserializeSessionAsync(JsonDocument.Parse("""{"agentName":"TestAgent","conversationId":"no spaces"}""").RootElement));
    }

    [Fact]
    public async Task RunAsync_WithoutBackgroundResponses_WaitsForTheEnd_AndCarriesNoToken()
    {
        await using var test = await TestConversation.StartAsync(redis.Server);
        var (_, agent, session) = test;

        var response = await agent.RunAsync("Hello", session, new AgentRunOptions { AllowBackgroundResponses = false });

        Assert.Null(response.ContinuationToken);
        Assert.Equal("Answer to: Hello", response.Text);
        Assert.Equal(RunStatus.Completed, (await agent.GetRunAsync(session, response.ResponseId!))!.Status);
    }

    [Fact]
    public async Task RunAsync_WithBackgroundResponses_ReturnsAtOnceWithATokenNamingTheRun()
    {
        var model = new ScriptedChatClient();
        var gate = model.HoldTokens();
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (_, agent, session) = test;

        // The model is held: only a response that does not wait for the run can come back.
        var response = await agent.RunAsync("Hello", session, Background()).WaitAsync(TimeSpan.FromSeconds(20));

        var token = Assert.IsType<DurableAgentContinuationToken>(response.ContinuationToken);
        Assert.Equal((response.ResponseId, (string?)null), (token.RunId, token.AfterEntryId));
        Assert.Empty(response.Messages);
        Assert.False((await agent.GetRunAsync(session, token.RunId))!.Status.IsFinal());
        gate.SetResult();
        var (final, _) = await PollToEndAsync(agent, token);
        Assert.Equal("Answer to: Hello", final.Text);
    }

    [Fact]
    public async Task RunStreamingAsync_TokensOnEveryUpdateButTheLast_OnlyWithBackgroundResponses()
    {
        await using var test = await TestConversation.StartAsync(redis.Server);
        var (_, agent, session) = test;

        var background = await ReadAsync(ct => agent.RunStreamingAsync("one", session, Background(), ct));
        var plain = await ReadAsync(ct => agent.RunStreamingAsync("two", session, cancellationToken: ct));

        Assert.True(background.Count >= 4);
        Assert.All(background[..^1], u => Assert.Equal((u.ResponseId, Entry(u).Cursor), (Token(u).RunId, Token(u).AfterEntryId)));
        Assert.Null(background[^1].ContinuationToken);
        Assert.True(Entry(background[^1]).IsTerminal);
        Assert.All(plain, u => Assert.Null(u.ContinuationToken));
        Assert.Equal("Answer to: two", string.Concat(plain.Select(u => u.Text)));
    }

    [Fact]
    public async Task Options_RunIdMakesARetryIdempotent_AndAJsonResponseFormatIsRefused()
    {
        var model = new ScriptedChatClient();
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (_, agent, session) = test;
        var runId = RunIds.New();

        var first = await agent.RunAsync("once", session, new DurableAgentRunOptions { RunId = runId });
        var retried = await agent.RunAsync("once", session, new DurableAgentRunOptions { RunId = runId, AllowBackgroundResponses = true });
        var json = await Assert.ThrowsAsync<NotSupportedException>(() => agent.RunAsync("as json", session, new AgentRunOptions { ResponseFormat = ChatResponseFormat.Json }));

        Assert.Equal((runId, runId), (first.ResponseId, retried.ResponseId));
        Assert.Single(model.Calls);
        Assert.Single((await agent.GetConversationAsync(session)).Runs);
        Assert.Contains("JSON response format", json.Message, StringComparison.Ordinal);
        var clone = Assert.IsType<DurableAgentRunOptions>(new DurableAgentRunOptions { RunId = runId, AllowBackgroundResponses = true }.Clone());
        Assert.Equal((runId, (bool?)true), (clone.RunId, clone.AllowBackgroundResponses));
    }

    [Fact]
    public async Task RunAsync_PolledWithItsToken_FromStartToEnd()
    {
        var model = new ScriptedChatClient { FreeTokens = 1, Answer = _ => ["Day ", "one, ", "day ", "two."] };
        var gate = model.HoldTokens();
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (_, agent, session) = test;
        var started = await agent.RunAsync("Plan it", session, Background());

        // Held mid-answer: every poll answers with the token and no messages.
        var pending = await agent.RunAsync(session, Background(started.ContinuationToken));
        Assert.Equal((started.ResponseId, 0), (DurableAgentContinuationToken.FromToken(pending.ContinuationToken!).RunId, pending.Messages.Count));
        gate.SetResult();
        var (final, _) = await PollToEndAsync(agent, pending.ContinuationToken!);

        Assert.Equal("Day one, day two.", final.Text);
        Assert.Equal((started.ResponseId, ChatFinishReason.Stop), (final.ResponseId, final.FinishReason));
        Assert.Equal("Day one, day two.", Assert.Single(final.Messages).Text);
        // Polling an ended run again answers the same.
        Assert.Equal(final.Text, (await agent.RunAsync(session, Background(started.ContinuationToken))).Text);
    }

    [Fact]
    public async Task RunStreamingAsync_ResumedWithATokenFromAnotherClient_ContinuesRightAfterThatEntry()
    {
        var model = new ScriptedChatClient { FreeTokens = 3, Answer = _ => ["a0 ", "a1 ", "a2 ", "a3 ", "a4 ", "a5"] };
        var gate = model.HoldTokens();
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, model);
        var agent = cluster.Client.GetAgent("TestAgent");

        // Read the live run up to its second update, then lose the connection.
        var before = await ReadAsync(ct => agent.RunStreamingAsync("go", agent.NewSession(), Background(), ct), stop: u => u.Text == "a1 ");
        var token = before[^1].ContinuationToken!;
        gate.SetResult();
        await using var other = await cluster.ConnectOtherClientAsync();
        var after = await ReadAsync(ct => other.Client.GetAgent("TestAgent").RunStreamingAsync(session: null, Background(token), ct));

        Assert.Equal(["a0 ", "a1 "], before.Select(u => u.Text));
        Assert.Equal("a2 a3 a4 a5", string.Concat(after.Select(u => u.Text)));
        Assert.Equal(Entry(before[^1]).Sequence + 1, Entry(after[0]).Sequence);
        Assert.Equal(Enumerable.Range(1, before.Count + after.Count).Select(i => (long)i), before.Concat(after).Select(u => Entry(u).Sequence));
    }

    [Fact]
    public async Task RunStreamingAsync_CancellingTheEnumerator_StopsTheReadOnly_TheRunGoesOn()
    {
        var model = new ScriptedChatClient { FreeTokens = 1, Answer = _ => ["kept ", "going ", "on"] };
        var gate = model.HoldTokens();
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (_, agent, session) = test;
        using var stop = new CancellationTokenSource();
        string? runId = null;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in agent.RunStreamingAsync("go", session, Background(), stop.Token))
            {
                runId = update.ResponseId;
                await stop.CancelAsync();
            }
        });
        gate.SetResult();

        var (final, _) = await PollToEndAsync(agent, DurableAgentContinuationToken.ForRun(runId!));
        Assert.Equal("kept going on", final.Text);
        Assert.Equal(RunStatus.Completed, (await agent.GetRunAsync(session, runId!))!.Status);
    }

    [Fact]
    public async Task FailedAndCancelledRuns_EndWithErrorContent_InTheStreamAndTheFinalResponse()
    {
        var model = new ScriptedChatClient { Failure = new InvalidOperationException("model down"), FailAfterTokens = 1, Answer = _ => ["partial ", "never"] };
        await using var test = await TestConversation.StartAsync(redis.Server, model);
        var (_, agent, session) = test;

        var failed = await ReadAsync(ct => agent.RunStreamingAsync("fail", session, Background(), ct));
        var failedFinal = await agent.RunAsync(session, Background(DurableAgentContinuationToken.ForRun(failed[0].ResponseId!)));

        var streamedError = Assert.Single(failed[^1].Contents.OfType<ErrorContent>());
        Assert.Equal(DurableRunContents.RunFailedErrorCode, streamedError.ErrorCode);
        Assert.Matches("^The agent failed\\. Error id [0-9a-f]{16}\\.$", streamedError.Message);
        Assert.Null(failed[^1].ContinuationToken);
        Assert.Null(failed[^1].FinishReason);
        var finalError = Assert.Single(failedFinal.Messages.SelectMany(m => m.Contents).OfType<ErrorContent>());
        Assert.Equal((streamedError.Message, streamedError.ErrorCode), (finalError.Message, finalError.ErrorCode));
        Assert.Equal("partial ", failedFinal.Text);
        Assert.Equal(failedFinal.Text, string.Concat(failed.Select(u => u.Text)));

        model.Failure = null;
        var heldAfterFirstToken = new TaskCompletionSource();
        model.FreeTokens = 1;
        model.BeforeToken = async (_, ct) =>
        {
            heldAfterFirstToken.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        };
        var started = await agent.RunAsync("cancel me", session, Background());
        var reading = ReadAsync(ct => agent.RunStreamingAsync(session, Background(started.ContinuationToken), ct));
        await heldAfterFirstToken.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await agent.CancelAsync(session, started.ResponseId!);
        var cancelled = await reading;
        var cancelledFinal = await agent.RunAsync(session, Background(started.ContinuationToken));

        Assert.Equal(DurableRunContents.RunCancelledErrorCode, Assert.Single(cancelled[^1].Contents.OfType<ErrorContent>()).ErrorCode);
        Assert.Equal(DurableRunContents.RunCancelledErrorCode, Assert.Single(cancelledFinal.Messages.SelectMany(m => m.Contents).OfType<ErrorContent>()).ErrorCode);
        Assert.Equal("partial ", cancelledFinal.Text);
        Assert.Equal(cancelledFinal.Text, string.Concat(cancelled.Select(u => u.Text)));
    }

    [Fact]
    public async Task ContinuationToken_SurvivesBytesAndJson_AndAMalformedOneIsAClearArgumentException()
    {
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient());
        var agent = cluster.Client.GetAgent("TestAgent");
        var updates = await ReadAsync(ct => agent.RunStreamingAsync("go", agent.NewSession(), Background(), ct));
        var token = updates[0].ContinuationToken!;

        var fromBytes = ResponseContinuationToken.FromBytes(token.ToBytes().ToArray());
        var json = JsonSerializer.Serialize(token, AIJsonUtilities.DefaultOptions);
        var fromJson = JsonSerializer.Deserialize<ResponseContinuationToken>(json, AIJsonUtilities.DefaultOptions)!;
        foreach (var copy in new[] { fromBytes, fromJson })
        {
            Assert.IsNotType<DurableAgentContinuationToken>(copy);
            var resumed = await ReadAsync(ct => agent.RunStreamingAsync(session: null, Background(copy), ct));
            Assert.Equal(updates.Skip(1).Select(u => Entry(u).Cursor), resumed.Select(u => Entry(u).Cursor));
        }

        Assert.Equal(token.ToBytes().ToArray(), DurableAgentContinuationToken.FromToken(fromJson).ToBytes().ToArray());
        byte[][] malformedTokens =
        [
            [0xff, 0x00, 0x13],
            [],
            "{\"type\":\"chatClientAgentContinuationToken\",\"innerToken\":\"x\"}"u8.ToArray(),
            "{\"type\":\"durableAgentContinuationToken\",\"runId\":\"no spaces\"}"u8.ToArray(),
            "{\"type\":\"durableAgentContinuationToken\",\"runId\":\"abc\",\"after\":\"nope\"}"u8.ToArray(),
        ];
        foreach (var bad in malformedTokens)
        {
            var malformed = ResponseContinuationToken.FromBytes(bad);
            var polled = await Assert.ThrowsAsync<ArgumentException>(() => agent.RunAsync(session: null, Background(malformed)));
            var streamed = await Assert.ThrowsAsync<ArgumentException>(() => ReadAsync(ct => agent.RunStreamingAsync(session: null, Background(malformed), ct)));
            Assert.Equal("options", polled.ParamName);
            Assert.StartsWith("The continuation token is not a durable agent's continuation token", polled.Message, StringComparison.Ordinal);
            Assert.Equal(polled.Message, streamed.Message);
        }

        var withMessage = await Assert.ThrowsAsync<InvalidOperationException>(() => agent.RunAsync("and a message", session: null, Background(token)));
        Assert.Contains("Input messages are not allowed", withMessage.Message, StringComparison.Ordinal);
        var ofOtherAgent = await Assert.ThrowsAsync<ArgumentException>(() => cluster.Client.GetAgent("OtherAgent").RunAsync(session: null, Background(token)));
        Assert.Contains("of agent 'TestAgent', not of 'OtherAgent'", ofOtherAgent.Message, StringComparison.Ordinal);
        var ofOtherConversation = await Assert.ThrowsAsync<ArgumentException>(() => agent.RunAsync(agent.NewSession(), Background(token)));
        Assert.Contains("not of the session's conversation", ofOtherConversation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ContinuationToken_OfAnUnknownRun_IsDurableRunNotFound_AtOnce()
    {
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient());
        var agent = cluster.Client.GetAgent("TestAgent");
        var unknown = DurableAgentContinuationToken.ForRun(RunIds.New(), "1734649123456-0");

        var polled = await Assert.ThrowsAsync<DurableRunNotFoundException>(() => agent.RunAsync(session: null, Background(unknown)));
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var streamed = await Assert.ThrowsAsync<DurableRunNotFoundException>(() => ReadAsync(ct => agent.RunStreamingAsync(session: null, Background(unknown), ct)));

        Assert.Equal((unknown.RunId, unknown.RunId), (polled.RunId, streamed.RunId));
        Assert.Contains($"Run '{unknown.RunId}' was not found", streamed.Message, StringComparison.Ordinal);
        // Told from the run index, not after the reader's wait for a stream that does not exist (30 s by default).
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"Took {stopwatch.Elapsed}.");
    }

    [Fact]
    public async Task ContinuationToken_OfARunWhoseStreamExpired_IsDurableRunExpired_WhilePollingStillAnswers()
    {
        await using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString);
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient(), services =>
            services.Configure<RedisAgentStreamingOptions>(o => o.StreamTtl = TimeSpan.FromSeconds(1)));
        var agent = cluster.Client.GetAgent("TestAgent");
        var updates = await ReadAsync(ct => agent.RunStreamingAsync("soon gone", agent.NewSession(), Background(), ct));
        var token = updates[1].ContinuationToken!;
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (await connection.GetDatabase().KeyExistsAsync("agent-stream:" + updates[0].ResponseId))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "The stream did not expire.");
            await Task.Delay(50);
        }

        var expired = await Assert.ThrowsAsync<DurableRunExpiredException>(() => ReadAsync(ct => agent.RunStreamingAsync(session: null, Background(token), ct)));
        var final = await agent.RunAsync(session: null, Background(token));

        Assert.Equal(updates[0].ResponseId, expired.RunId);
        Assert.Contains("has expired", expired.Message, StringComparison.Ordinal);
        Assert.Contains("call RunAsync with the same continuation token", expired.Message, StringComparison.Ordinal);
        Assert.Equal("Answer to: soon gone", final.Text);
    }
}

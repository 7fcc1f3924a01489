using AgentStreaming.DurableAgents.Grains;
using Microsoft.Extensions.AI;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>What of the history reaches the model: a bounded window, with the tool exchanges it holds.</summary>
public sealed class ModelHistoryTests(AppendOnlyRedisServerFixture redis)
{
    [Fact]
    public async Task Run_AfterManyTurns_SendsTheModelOnlyTheWindow()
    {
        var model = new ScriptedChatClient();
        await using var test = await TestConversation.StartAsync(redis.Server, model, services => Microsoft.Extensions.DependencyInjection.OptionsServiceCollectionExtensions.PostConfigure<AgentStreaming.DurableAgents.Options.DurableAgentsOptions>(services, o => o.HistoryWindow = 4));
        var (_, agent, session) = test;

        for (var i = 0; i < 5; i++)
        {
            await agent.RunAsync($"turn {i}", session);
        }

        Assert.Equal(
            ["turn 2", "Answer to: turn 2", "turn 3", "Answer to: turn 3", "turn 4"],
            model.Calls[^1].Where(m => m.Role != ChatRole.System).Select(m => m.Text));
        Assert.Equal(10, (await agent.GetConversationAsync(session)).History.Count);
    }

    [Fact]
    public void Build_ReplaysTheToolCallsAndResultsOfAnswersInTheWindow_AndSkipsFailedQuestions()
    {
        ConversationMessage[] history =
        [
            new() { Role = "user", Text = "Plan Lisbon", RunId = "r1" },
            new()
            {
                Role = "assistant", Text = "Day 1: tram 28", RunId = "r1",
                ToolCalls = [new ToolCallRecord("get_weather_forecast", "{\"destination\":\"Lisbon\"}", "sunny")],
            },
            new() { Role = "user", Text = "broken", RunId = "r2", Failed = true },
        ];

        var messages = ModelHistory.Build(history, "Make it 2 days", window: 10);

        Assert.Equal([ChatRole.User, ChatRole.Assistant, ChatRole.Tool, ChatRole.Assistant, ChatRole.User], messages.Select(m => m.Role));
        var call = Assert.IsType<FunctionCallContent>(Assert.Single(messages[1].Contents));
        var result = Assert.IsType<FunctionResultContent>(Assert.Single(messages[2].Contents));
        Assert.Equal("get_weather_forecast", call.Name);
        Assert.Equal("Lisbon", call.Arguments!["destination"]!.ToString());
        Assert.Equal(call.CallId, result.CallId);
        Assert.Equal("sunny", result.Result);
        Assert.DoesNotContain(messages, m => m.Text == "broken");
    }

    [Fact]
    public void Build_WindowNeverStartsWithAnAnswerWhoseQuestionFellOut()
    {
        ConversationMessage[] history =
        [
            new() { Role = "user", Text = "q1", RunId = "r1" },
            new() { Role = "assistant", Text = "a1", RunId = "r1" },
            new() { Role = "user", Text = "q2", RunId = "r2" },
            new() { Role = "assistant", Text = "a2", RunId = "r2" },
        ];

        var messages = ModelHistory.Build(history, "q3", window: 3);

        Assert.Equal(["q2", "a2", "q3"], messages.Select(m => m.Text));
    }
}

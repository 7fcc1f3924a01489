using System.Text.Json;
using AgentStreaming.Worker.Agents;
using AgentStreaming.Worker.Models;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AgentStreaming.Worker.Tests;

/// <summary>
/// The real OpenAI and Azure OpenAI SDKs, chosen through the provider selection, against a local server speaking
/// the chat-completions SSE format, with a tool-call round trip through the TravelPlanner agent.
/// </summary>
public sealed class RealSdkProviderTests : IAsyncLifetime
{
    private FakeChatCompletionsServer _server = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _server = await FakeChatCompletionsServer.StartAsync();

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task RunStreamingAsync_OpenAICompatibleServer_RoundTripsTheToolCall()
    {
        using var provider = Services(
            ("OPENAI_BASE_URL", new Uri(_server.BaseAddress, "v1").ToString()),
            ("OPENAI_API_KEY", "test-openai-key"),
            ("OPENAI_MODEL", FakeChatCompletionsServer.Model));
        Assert.Equal(ChatModelProvider.OpenAICompatible, provider.GetRequiredService<ChatModelSelection>().Provider);

        await AssertToolRoundTripAsync(provider.GetRequiredService<IChatClient>());

        var requests = _server.Requests.ToList();
        Assert.All(requests, r => Assert.Equal("/v1/chat/completions", r.Path));
        Assert.All(requests, r => Assert.Equal("Bearer test-openai-key", r.Authorization));
        Assert.All(requests, r => Assert.Equal(FakeChatCompletionsServer.Model, (string?)r.Body["model"]));
    }

    [Fact]
    public async Task RunStreamingAsync_AzureOpenAIEndpoint_RoundTripsTheToolCallOnTheDeploymentPath()
    {
        using var provider = Services(
            ("AZURE_OPENAI_ENDPOINT", _server.BaseAddress.ToString()),
            ("AZURE_OPENAI_DEPLOYMENT_NAME", "travel-gpt"),
            ("AZURE_OPENAI_API_KEY", "test-azure-key"));
        Assert.Equal(ChatModelProvider.AzureOpenAI, provider.GetRequiredService<ChatModelSelection>().Provider);

        await AssertToolRoundTripAsync(provider.GetRequiredService<IChatClient>());

        var requests = _server.Requests.ToList();
        Assert.All(requests, r => Assert.Equal("/openai/deployments/travel-gpt/chat/completions", r.Path));
        Assert.All(requests, r => Assert.Contains("api-version=", r.Query, StringComparison.Ordinal));
        Assert.All(requests, r => Assert.Equal("test-azure-key", r.ApiKey));
    }

    [Fact]
    public async Task RunAsync_OpenAICompatibleServer_ReturnsTextAfterToolCall()
    {
        using var provider = Services(
            ("OPENAI_BASE_URL", new Uri(_server.BaseAddress, "v1").ToString()),
            ("OPENAI_MODEL", FakeChatCompletionsServer.Model));
        var agent = TravelPlannerAgent.Create(provider.GetRequiredService<IChatClient>());

        var response = await agent.RunAsync("What's the weather in Tokyo?", cancellationToken: Ct);

        var condition = TravelTools.GetWeatherForecast("Tokyo", "2026-05-01").Condition;
        Assert.Equal(FakeChatCompletionsServer.AnswerText(condition), response.Text);
        Assert.Equal(2, _server.Requests.Count);
    }

    private static ServiceProvider Services(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        return new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddTravelPlannerChatClient().BuildServiceProvider();
    }

    private async Task AssertToolRoundTripAsync(IChatClient chatClient)
    {
        var agent = TravelPlannerAgent.Create(chatClient);

        var updates = await TestAgentRuns.CollectAsync(agent, "Plan a day in Tokyo on 2026-05-01", Ct);

        var call = Assert.Single(updates.ContentsOf<FunctionCallContent>());
        Assert.Equal(TravelTools.WeatherForecastToolName, call.Name);
        Assert.Equal(FakeChatCompletionsServer.ToolCallId, call.CallId);
        Assert.Equal("Tokyo", call.Arguments!["destination"]?.ToString());

        var expected = TravelTools.GetWeatherForecast("Tokyo", "2026-05-01");
        var result = Assert.Single(updates.ContentsOf<FunctionResultContent>());
        Assert.Equal(FakeChatCompletionsServer.ToolCallId, result.CallId);
        Assert.Null(result.Exception);
        Assert.Equal(expected.Condition, JsonSerializer.SerializeToElement(result.Result).GetProperty("condition").GetString());

        Assert.Equal(FakeChatCompletionsServer.AnswerText(expected.Condition), updates.TextOf());
        Assert.Contains(updates.ContentsOf<UsageContent>(), u => u.Details.TotalTokenCount == 59);

        // The second request carried the tool call and its result back to the model, with the instructions and tools.
        Assert.Equal(2, _server.Requests.Count);
        var second = _server.Requests.Last().Body;
        var messages = second["messages"]!.AsArray();
        Assert.Equal("system", (string?)messages[0]!["role"]);
        Assert.Contains("TravelPlanner", (string?)messages[0]!["content"] ?? string.Concat(messages[0]!["content"]!.AsArray().Select(p => (string?)p!["text"])), StringComparison.Ordinal);
        var assistant = messages.Single(m => (string?)m!["role"] == "assistant")!;
        Assert.Equal(FakeChatCompletionsServer.ToolCallId, (string?)assistant["tool_calls"]![0]!["id"]);
        var tool = messages.Single(m => (string?)m!["role"] == "tool")!;
        Assert.Equal(FakeChatCompletionsServer.ToolCallId, (string?)tool["tool_call_id"]);
        Assert.Equal(
            [TravelTools.WeatherForecastToolName, TravelTools.LocalEventsToolName],
            second["tools"]!.AsArray().Select(t => (string?)t!["function"]!["name"]));
    }
}

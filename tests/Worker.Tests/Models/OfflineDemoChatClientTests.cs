using AgentStreaming.Worker.Agents;
using AgentStreaming.Worker.Models;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Time.Testing;

namespace AgentStreaming.Worker.Tests;

public sealed class OfflineDemoChatClientTests
{
    private const string Prompt = "Plan a 3-day trip to Lisbon with emphasis on history and food";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RunStreamingAsync_TravelPlannerOnOfflineModel_CallsBothToolsAndStreamsItinerary()
    {
        var agent = TravelPlannerAgent.Create(new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = 0 }));

        var updates = await TestAgentRuns.CollectAsync(agent, Prompt, Ct);

        var calls = updates.ContentsOf<FunctionCallContent>();
        Assert.Equal([TravelTools.WeatherForecastToolName, TravelTools.LocalEventsToolName], calls.Select(c => c.Name));
        Assert.All(calls, c => Assert.Equal("Lisbon", c.Arguments!["destination"]?.ToString()));

        var results = updates.ContentsOf<FunctionResultContent>();
        Assert.Equal(calls.Select(c => c.CallId), results.Select(r => r.CallId));
        Assert.All(results, r => Assert.Null(r.Exception));

        var weather = TravelTools.GetWeatherForecast("Lisbon", "day 1");
        var events = TravelTools.GetLocalEvents("Lisbon", "day 1");
        var text = updates.TextOf();
        Assert.StartsWith("# ", text, StringComparison.Ordinal);
        Assert.Contains("Lisbon", text, StringComparison.Ordinal);
        Assert.Contains("## Day 1", text, StringComparison.Ordinal);
        Assert.Contains("## Day 3", text, StringComparison.Ordinal);
        Assert.DoesNotContain("## Day 4", text, StringComparison.Ordinal);
        Assert.Contains(weather.Condition, text, StringComparison.Ordinal);
        Assert.Contains($"high {weather.HighCelsius}°C", text, StringComparison.Ordinal);
        Assert.Contains(events[0].Name, text, StringComparison.Ordinal);
        Assert.Contains("history", text, StringComparison.Ordinal);

        // Streamed word by word, not in one piece.
        Assert.True(updates.Count(u => !string.IsNullOrEmpty(u.Text)) > 100);
        // One usage report for the tool-call response, one for the itinerary.
        Assert.Equal(2, updates.ContentsOf<UsageContent>().Count);
        var usage = updates.ContentsOf<UsageContent>()[^1];
        Assert.Equal(OfflineDemoChatClient.Tokenize(text).Count, usage.Details.OutputTokenCount);
    }

    [Fact]
    public async Task RunStreamingAsync_SamePromptTwice_StreamsIdenticalTranscripts()
    {
        var agent = TravelPlannerAgent.Create(new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = 0 }));

        var first = await TestAgentRuns.CollectAsync(agent, Prompt, Ct);
        var second = await TestAgentRuns.CollectAsync(agent, Prompt, Ct);

        Assert.Equal(first.Select(u => u.Text), second.Select(u => u.Text));
        Assert.Equal(first.ContentsOf<FunctionCallContent>().Select(c => c.CallId), second.ContentsOf<FunctionCallContent>().Select(c => c.CallId));
    }

    [Fact]
    public async Task RunAsync_TravelPlannerOnOfflineModel_ReturnsWholeItinerary()
    {
        var agent = TravelPlannerAgent.Create(new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = 0 }));

        var response = await agent.RunAsync("A weekend in Paris, please", cancellationToken: Ct);

        Assert.Contains("2-Day Paris", response.Text, StringComparison.Ordinal);
        Assert.Contains("## Day 2", response.Text, StringComparison.Ordinal);
        Assert.Contains(TravelTools.GetWeatherForecast("Paris", "day 1").Condition, response.Text, StringComparison.Ordinal);
        Assert.Contains(
            response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>(),
            r => r.CallId.EndsWith("_events", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GetResponseAsync_NoToolsOffered_AnswersWithoutToolData()
    {
        using var client = new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = 0 });

        var response = await client.GetResponseAsync("Plan 2 days in Rome", cancellationToken: Ct);

        Assert.DoesNotContain(response.Messages.SelectMany(m => m.Contents), c => c is FunctionCallContent);
        Assert.Contains("2-Day Rome", response.Text, StringComparison.Ordinal);
        Assert.Contains("No forecast was available", response.Text, StringComparison.Ordinal);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.NotNull(response.Usage);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Paced_WaitsOnTheTimeProvider()
    {
        var time = new FakeTimeProvider();
        using var client = new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = 10 }, time);
        await using var stream = client.GetStreamingResponseAsync("Plan 2 days in Rome", cancellationToken: Ct).GetAsyncEnumerator(Ct);

        Assert.True(await stream.MoveNextAsync());
        Assert.Equal("#", stream.Current.Text);

        var next = stream.MoveNextAsync().AsTask();
        time.Advance(TimeSpan.FromMilliseconds(99));
        Assert.False(next.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(await next.WaitAsync(Deadline, Ct));

        // Pacing runs against the start time: after a jump the due tokens come at once, then it waits again.
        time.Advance(TimeSpan.FromMilliseconds(900));
        for (var token = 2; token <= 10; token++)
        {
            Assert.True(await stream.MoveNextAsync().AsTask().WaitAsync(Deadline, Ct));
        }

        var eleventh = stream.MoveNextAsync().AsTask();
        Assert.False(eleventh.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(await eleventh.WaitAsync(Deadline, Ct));
    }

    [Fact]
    public async Task GetStreamingResponseAsync_NoPacing_CompletesWithoutTimeAdvancing()
    {
        var time = new FakeTimeProvider();
        using var client = new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = 0 }, time);

        var response = await client.GetStreamingResponseAsync("Plan 4 days in Seoul", cancellationToken: Ct)
            .ToChatResponseAsync(Ct).WaitAsync(Deadline, Ct);

        Assert.Contains("## Day 4", response.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunStreamingAsync_CancelledWhileWaitingForNextToken_StopsPromptly()
    {
        // Fake time never advances, so the second token can only come if cancellation did not interrupt the wait.
        var time = new FakeTimeProvider();
        var agent = TravelPlannerAgent.Create(new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = 1 }, time));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        await using var stream = agent.RunStreamingAsync(Prompt, cancellationToken: cts.Token).GetAsyncEnumerator(cts.Token);

        var sawText = false;
        while (!sawText)
        {
            Assert.True(await stream.MoveNextAsync().AsTask().WaitAsync(Deadline, Ct));
            sawText = !string.IsNullOrEmpty(stream.Current.Text);
        }

        var next = stream.MoveNextAsync().AsTask();
        Assert.False(next.IsCompleted);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.WaitAsync(Deadline, Ct));
    }

    [Fact]
    public async Task GetStreamingResponseAsync_FailAfterTokensSet_ThrowsAfterThatManyTokens()
    {
        using var client = new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = 0, FailAfterTokens = 5 });
        var received = new List<string>();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync("Plan 2 days in Rome", cancellationToken: Ct))
            {
                received.Add(update.Text);
            }
        });

        Assert.Equal(5, received.Count);
        Assert.Contains("FailAfterTokens", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_FollowUpTurn_KeepsDestinationOfEarlierTurn()
    {
        using var client = new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = 0 });
        ChatMessage[] conversation =
        [
            new(ChatRole.User, "Plan a trip to Barcelona"),
            new(ChatRole.Assistant, "(an itinerary)"),
            new(ChatRole.User, "Make it 5 days with more nightlife"),
        ];

        var response = await client.GetResponseAsync(conversation, cancellationToken: Ct);

        Assert.Contains("5-Day Barcelona", response.Text, StringComparison.Ordinal);
        Assert.Contains("After Dark", response.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("# Title\n\nSome *text* here.\n- a\n- b")]
    [InlineData("  leading and trailing  ")]
    [InlineData("")]
    public void Tokenize_AnyText_ConcatenatesBackToTheText(string text)
    {
        var tokens = OfflineDemoChatClient.Tokenize(text);

        Assert.Equal(text, string.Concat(tokens));
    }

    [Fact]
    public void Constructor_NegativeTokensPerSecond_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = -1 }));
    }
}

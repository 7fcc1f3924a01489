using AgentStreaming.Testing;
using System.Text.Json;
using AgentStreaming.Streaming.Callbacks;
using AgentStreaming.Streaming.Streams;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace AgentStreaming.Streaming.Tests;

public sealed class ResponseCallbackTests(RedisFixture redis)
{
    [Fact]
    public async Task Callback_UpdatesWithToolsAndUsage_BecomeTypedEntriesThenDone()
    {
        await using var handler = redis.CreateHandler();
        var callback = new RedisStreamResponseCallback(handler);
        var context = new AgentResponseCallbackContext("TravelPlanner", "conv-1", TestStreams.NewRunId(), 1, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

        await callback.OnRunStartedAsync(context);
        await callback.OnStreamingResponseUpdateAsync(new AgentResponseUpdate(ChatRole.Assistant,
            [new FunctionCallContent("call-1", "get_weather_forecast", new Dictionary<string, object?> { ["destination"] = "Tokyo", ["date"] = "day 1" })]), context);
        await callback.OnStreamingResponseUpdateAsync(new AgentResponseUpdate(ChatRole.Tool,
            [new FunctionResultContent("call-1", new { condition = "Sunny", high = 21 })]), context);
        await callback.OnStreamingResponseUpdateAsync(new AgentResponseUpdate(ChatRole.Assistant, "# Day 1\n"), context);
        await callback.OnStreamingResponseUpdateAsync(new AgentResponseUpdate(ChatRole.Assistant, "Temples"), context);
        await callback.OnStreamingResponseUpdateAsync(new AgentResponseUpdate(ChatRole.Assistant,
            [new UsageContent(new UsageDetails { InputTokenCount = 12, OutputTokenCount = 34, TotalTokenCount = 46 })]), context);
        await callback.OnAgentResponseAsync(new AgentResponse(new ChatMessage(ChatRole.Assistant, "# Day 1\nTemples")), context);

        var chunks = await handler.ReadAllAsync(context.RunId);
        Assert.Equal(
            [StreamEntryKind.ToolCall, StreamEntryKind.ToolResult, StreamEntryKind.Text, StreamEntryKind.Text, StreamEntryKind.Usage, StreamEntryKind.Done],
            chunks.Select(c => c.Kind));
        using var call = JsonDocument.Parse(chunks[0].Data!);
        Assert.Equal("get_weather_forecast", call.RootElement.GetProperty("name").GetString());
        Assert.Equal("Tokyo", call.RootElement.GetProperty("arguments").GetProperty("destination").GetString());
        using var result = JsonDocument.Parse(chunks[1].Data!);
        Assert.Equal("call-1", result.RootElement.GetProperty("callId").GetString());
        Assert.Contains("Sunny", result.RootElement.GetProperty("result").GetString(), StringComparison.Ordinal);
        using var usage = JsonDocument.Parse(chunks[4].Data!);
        Assert.Equal(46, usage.RootElement.GetProperty("totalTokens").GetInt32());
        Assert.Equal("# Day 1\nTemples", StreamTranscript.Visible(chunks));
        Assert.Equal(0, callback.ActiveRuns);
    }

    [Fact]
    public async Task Callback_Failure_WritesOneErrorTerminal()
    {
        await using var handler = redis.CreateHandler();
        var callback = new RedisStreamResponseCallback(handler);
        var context = new AgentResponseCallbackContext("TravelPlanner", "conv-1", TestStreams.NewRunId());
        await callback.OnStreamingResponseUpdateAsync(new AgentResponseUpdate(ChatRole.Assistant, "partial"), context);
        await callback.OnRunFailedAsync("The model failed: 429 Too Many Requests", context);

        var chunks = await handler.ReadAllAsync(context.RunId);
        Assert.Equal([StreamEntryKind.Text, StreamEntryKind.Error], chunks.Select(c => c.Kind));
        Assert.Equal("The model failed: 429 Too Many Requests", chunks[^1].Error);
        await Assert.ThrowsAsync<AgentStreamWriteException>(async () => await callback.OnRunCancelledAsync("late", context));
    }

    [Fact]
    public async Task Callback_LongToolResult_IsTruncatedInTheEntry()
    {
        await using var handler = redis.CreateHandler();
        var callback = new RedisStreamResponseCallback(handler);
        var context = new AgentResponseCallbackContext("TravelPlanner", "conv-1", TestStreams.NewRunId());
        await callback.OnStreamingResponseUpdateAsync(new AgentResponseUpdate(ChatRole.Tool, [new FunctionResultContent("c", new string('x', 10_000))]), context);
        await callback.OnRunCancelledAsync("stopped", context);

        var chunks = await handler.ReadAllAsync(context.RunId);
        using var result = JsonDocument.Parse(chunks[0].Data!);
        Assert.Equal(AgentResponseUpdateMapper.MaxResultSummaryLength, result.RootElement.GetProperty("result").GetString()!.Length);
        Assert.True(result.RootElement.GetProperty("truncated").GetBoolean());
        Assert.Equal(StreamEntryKind.Cancelled, chunks[^1].Kind);
    }
}

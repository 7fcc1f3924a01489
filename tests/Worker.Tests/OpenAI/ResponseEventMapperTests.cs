using AgentStreaming.DurableAgents.Client;
using CsCheck;

namespace AgentStreaming.Worker.OpenAI.Tests;

/// <summary>The entry → event mapping in process: numbering, item lifecycles, tool calls, terminal events.</summary>
public sealed class ResponseEventMapperTests
{
    private static readonly ResponseHeader Header = new("0123456789abcdef0123456789abcdef", "TravelPlanner", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), Background: true);

    private static DurableRunChunk Chunk(long sequence, DurableRunChunkKind kind, string text = "", string? data = null, string? error = null, int attempt = 1)
        => new("1-" + sequence, sequence, attempt, kind, text, DateTimeOffset.UnixEpoch, error, data);

    private static List<ResponseEvent> MapAll(IEnumerable<DurableRunChunk> chunks)
    {
        var mapper = new ResponseEventMapper(Header);
        var events = mapper.Prelude().ToList();
        foreach (var chunk in chunks)
        {
            events.AddRange(mapper.Map(chunk));
        }

        return events;
    }

    [Fact]
    public void Map_TextToolCallTextDone_GivesTheSdkSequence_WithMcpCallItems()
    {
        var events = MapAll(
        [
            Chunk(0, DurableRunChunkKind.Text, "Checking "),
            Chunk(1, DurableRunChunkKind.ToolCall, data: "{\"name\":\"get_weather_forecast\",\"callId\":\"c1\",\"arguments\":{\"destination\":\"Kyoto\"}}"),
            Chunk(2, DurableRunChunkKind.ToolResult, data: "{\"callId\":\"c1\",\"result\":\"Sunny\"}"),
            Chunk(3, DurableRunChunkKind.Text, "Sunny days"),
            Chunk(4, DurableRunChunkKind.Usage, data: "{\"inputTokens\":10,\"outputTokens\":5,\"totalTokens\":15}"),
            Chunk(5, DurableRunChunkKind.Done),
        ]);

        Assert.Equal(
            [
                "response.created", "response.in_progress",
                "response.output_item.added", "response.content_part.added", "response.output_text.delta",
                "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.output_item.added",
                "response.output_item.done",
                "response.output_item.added", "response.content_part.added", "response.output_text.delta",
                "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed",
            ],
            events.Select(e => e.Type));
        Assert.Equal([0, 1, 32, 33, 34, 64, 65, 66, 67, 99, 128, 129, 130, 192, 193, 194, 223], events.Select(e => e.SequenceNumber));
        var call = events[9].Payload["item"]!;
        Assert.Equal("mcp_call", (string?)call["type"]);
        Assert.Equal("get_weather_forecast", (string?)call["name"]);
        Assert.Equal("{\"destination\":\"Kyoto\"}", (string?)call["arguments"]);
        Assert.Equal("Sunny", (string?)call["output"]);
        Assert.Equal(1, (int)events[9].Payload["output_index"]!);
        var completed = events[^1].Payload["response"]!;
        Assert.Equal("completed", (string?)completed["status"]);
        Assert.Equal(3, completed["output"]!.AsArray().Count);
        Assert.Equal(15, (long)completed["usage"]!["total_tokens"]!);
    }

    [Fact]
    public void Map_AnyEntries_SequenceNumbersStrictlyIncrease_AndRepeatOnReplay()
    {
        var kinds = Gen.OneOf(Gen.Const(DurableRunChunkKind.Text), Gen.Const(DurableRunChunkKind.ToolCall), Gen.Const(DurableRunChunkKind.ToolResult), Gen.Const(DurableRunChunkKind.Usage), Gen.Const(DurableRunChunkKind.Reset));
        var terminal = Gen.OneOf(Gen.Const(DurableRunChunkKind.Done), Gen.Const(DurableRunChunkKind.Error), Gen.Const(DurableRunChunkKind.Cancelled));
        Gen.Select(Gen.Select(kinds, Gen.String[0, 5]).List[0, 28], terminal).Sample((body, end) =>
        {
            var chunks = body.Select((b, i) => Chunk(i, b.Item1, b.Item1 == DurableRunChunkKind.Text ? b.Item2 : string.Empty,
                b.Item1 switch
                {
                    DurableRunChunkKind.ToolCall => "{\"name\":\"t\",\"callId\":\"c" + i + "\",\"arguments\":{}}",
                    DurableRunChunkKind.ToolResult => "{\"callId\":\"c" + (i - 1) + "\",\"result\":\"r\"}",
                    _ => null,
                })).Append(Chunk(body.Count, end, error: "stopped")).ToList();

            var events = MapAll(chunks);
            var again = MapAll(chunks);

            Assert.Equal(events.Select(e => e.Payload.ToJsonString()), again.Select(e => e.Payload.ToJsonString()));
            for (var i = 1; i < events.Count; i++)
            {
                Assert.True(events[i].SequenceNumber > events[i - 1].SequenceNumber);
            }

            Assert.Single(events, e => e.Type is "response.completed" or "response.failed" or "response.incomplete");
            Assert.Equal(events.Count(e => e.Type == "response.output_item.added"), events.Count(e => e.Type == "response.output_item.done"));
        }, iter: 500);
    }

    [Fact]
    public void FirstSlot_BeyondInt32_Throws()
    {
        Assert.Equal(int.MaxValue - (int.MaxValue % ResponseEventMapper.SlotsPerEntry) - ResponseEventMapper.SlotsPerEntry, ResponseEventMapper.FirstSlot(ResponseEventMapper.MaxEntrySequence));
        Assert.Throws<InvalidOperationException>(() => ResponseEventMapper.FirstSlot(ResponseEventMapper.MaxEntrySequence + 1));
    }
}

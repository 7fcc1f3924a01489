using System.Net;
using System.Text;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>The SSE response against the specification, parsed by an independent parser and compared with the stored entries.</summary>
public sealed class SseFramingTests(ApiFixture fixture)
{
    private static string Url(string runId) => $"/agents/{TestRuns.Agent}/runs/{runId}/stream";

    private static IEnumerable<AgentStreamEntry> TrickyEntries()
    {
        var longText = new StringBuilder();
        for (var i = 0; i < 4000; i++)
        {
            longText.Append("Line ").Append(i).Append(" of a very long chunk: café ☕ 🌍").Append(i % 3 == 0 ? "\n" : " ");
        }

        yield return AgentStreamEntry.ForText("plain");
        yield return AgentStreamEntry.ForText(" leading space kept");
        yield return AgentStreamEntry.ForText("line one\nline two\n\nline four");
        yield return AgentStreamEntry.ForText(string.Empty);
        yield return AgentStreamEntry.ForText("\n");
        yield return AgentStreamEntry.ForText("ends with a break\n");
        yield return AgentStreamEntry.ForText("windows\r\nbreaks\rand old mac");
        yield return AgentStreamEntry.ForText("data: not a field\nid: 9-9\nevent: fake\n: not a comment");
        yield return AgentStreamEntry.ForText("🌍✈️ 日本語 Ünïcödé 👩‍👩‍👧‍👦");
        yield return AgentStreamEntry.ForText(longText.ToString());
        yield return new AgentStreamEntry(StreamEntryKind.ToolCall, Data: "{\"name\":\"get_weather_forecast\",\"callId\":\"c1\",\"arguments\":{\"destination\":\"Kyoto\"}}");
        yield return new AgentStreamEntry(StreamEntryKind.ToolResult, Data: "{\"callId\":\"c1\",\"result\":\"Sunny\\nwarm\"}");
        yield return new AgentStreamEntry(StreamEntryKind.Usage, Data: "{\"inputTokens\":1,\"outputTokens\":2}");
        yield return AgentStreamEntry.ForText("last");
    }

    [Fact]
    public async Task Stream_TrickyTexts_ParsedEventsEqualStoredEntries()
    {
        var runId = await TestRuns.WriteRunAsync(fixture.Streams, TrickyEntries());
        using var http = ApiFixture.Client(fixture.BaseAddress);

        var (response, body) = await TestRuns.ReadSseAsync(http, Url(runId));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(runId, response.Headers.GetValues("X-Run-Id").Single());
        var parsed = SseParser.Parse(body);
        Assert.Equal(200, parsed.Retry);
        var entries = await TestRuns.EntriesAsync(fixture.Multiplexer, runId);
        Assert.Equal(entries.Count, parsed.Events.Count);
        for (var i = 0; i < entries.Count; i++)
        {
            Assert.Equal(entries[i].Id, parsed.Events[i].LastEventId);
            Assert.Equal(entries[i].Type, parsed.Events[i].Type);
            Assert.Equal(TestRuns.ExpectedData(entries[i]), parsed.Events[i].Data);
        }

        Assert.Equal("done", parsed.Events[^1].Type);
    }

    [Fact]
    public async Task Stream_MultiLineText_IsSplitIntoDataLines()
    {
        var runId = await TestRuns.WriteRunAsync(fixture.Streams, [AgentStreamEntry.ForText("a\nb\r\nc")]);
        using var http = ApiFixture.Client(fixture.BaseAddress);

        var (_, body) = await TestRuns.ReadSseAsync(http, Url(runId));

        var id = (await TestRuns.EntriesAsync(fixture.Multiplexer, runId))[0].Id;
        Assert.Contains($"id: {id}\nevent: text\ndata: a\ndata: b\ndata: c\n\n", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_ResumeAtRandomCutPoints_YieldsExactlyTheRest()
    {
        var runId = await TestRuns.WriteRunAsync(fixture.Streams, TrickyEntries());
        var entries = await TestRuns.EntriesAsync(fixture.Multiplexer, runId);
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var random = new Random(7);

        for (var round = 0; round < 8; round++)
        {
            var cut = random.Next(0, entries.Count - 1);
            var byHeader = round % 2 == 0;
            var (response, body) = byHeader
                ? await TestRuns.ReadSseAsync(http, Url(runId), lastEventId: entries[cut].Id)
                : await TestRuns.ReadSseAsync(http, Url(runId) + "?cursor=" + entries[cut].Id);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var rest = SseParser.Parse(body).Events;
            Assert.Equal(entries.Skip(cut + 1).Select(e => (e.Id, e.Type, TestRuns.ExpectedData(e))), rest.Select(e => (e.LastEventId, e.Type, e.Data)));
        }
    }

    [Fact]
    public async Task Stream_LastEventIdHeader_WinsOverCursorQuery()
    {
        var runId = await TestRuns.WriteRunAsync(fixture.Streams, [AgentStreamEntry.ForText("one"), AgentStreamEntry.ForText("two"), AgentStreamEntry.ForText("three")]);
        var entries = await TestRuns.EntriesAsync(fixture.Multiplexer, runId);
        using var http = ApiFixture.Client(fixture.BaseAddress);

        var (_, body) = await TestRuns.ReadSseAsync(http, Url(runId) + "?cursor=" + entries[0].Id, lastEventId: entries[1].Id);

        Assert.Equal(["three", string.Empty], SseParser.Parse(body).Events.Select(e => e.Data));
    }

    [Fact]
    public async Task Stream_AfterTheTerminalEntry_Answers204()
    {
        var runId = await TestRuns.WriteRunAsync(fixture.Streams, [AgentStreamEntry.ForText("only")]);
        var entries = await TestRuns.EntriesAsync(fixture.Multiplexer, runId);
        using var http = ApiFixture.Client(fixture.BaseAddress);

        var (response, _) = await TestRuns.ReadSseAsync(http, Url(runId), lastEventId: entries[^1].Id);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    [Fact]
    public async Task Stream_IdleRun_SendsCommentHeartbeatsThenContinues()
    {
        var runId = RunIds.New();
        var writer = fixture.Streams.CreateWriter(runId);
        await writer.BeginAsync();
        await writer.AppendAsync(AgentStreamEntry.ForText("before the pause"));
        await writer.FlushAsync();
        using var http = ApiFixture.Client(fixture.BaseAddress);
        using var request = new HttpRequestMessage(HttpMethod.Get, Url(runId));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestRuns.Deadline());
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestRuns.Deadline()));

        // Read lines until two heartbeats arrived (the Worker's interval is 300 ms), then finish the run.
        var seen = new StringBuilder();
        var heartbeats = 0;
        while (heartbeats < 2)
        {
            var line = await reader.ReadLineAsync(TestRuns.Deadline(10)) ?? throw new InvalidOperationException("The stream ended early: " + seen);
            seen.Append(line).Append('\n');
            heartbeats += line == ": heartbeat" ? 1 : 0;
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        seen.Append(await reader.ReadToEndAsync(TestRuns.Deadline()));
        var parsed = SseParser.Parse(seen.ToString());

        Assert.Equal(["text", "done"], parsed.Events.Select(e => e.Type));
        Assert.Equal("before the pause", parsed.Events[0].Data);
        Assert.True(parsed.Comments.Count(c => c == "heartbeat") >= 2);
    }
}

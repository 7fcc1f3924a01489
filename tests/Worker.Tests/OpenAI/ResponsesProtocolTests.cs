using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Worker.Api.Tests;
using CsCheck;

namespace AgentStreaming.Worker.OpenAI.Tests;

/// <summary>
/// <c>/v1/responses</c> on the wire, against the real Worker: the event sequence, errors in OpenAI's shape, the crash
/// re-run mapping, and resuming with <c>starting_after</c> at any cut.
/// </summary>
public sealed class ResponsesProtocolTests(ApiFixture fixture)
{
    [Fact]
    public async Task Create_UnknownModel_Answers404InOpenAIShape()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var response = await http.PostAsJsonAsync("/v1/responses", new { model = "NoSuchAgent", input = "Hi" }, TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = await ErrorAsync(response);
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Equal("model", error.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Contains("TravelPlanner", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"model\":\"TravelPlanner\",\"input\":\"Hi\",\"instructions\":\"Be terse\"}", "instructions")]
    [InlineData("{\"model\":\"TravelPlanner\",\"input\":\"Hi\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}]}", "tools")]
    [InlineData("{\"model\":\"TravelPlanner\",\"input\":\"Hi\",\"background\":true,\"store\":false}", "store")]
    [InlineData("{\"model\":\"TravelPlanner\",\"input\":[{\"role\":\"system\",\"content\":\"x\"}]}", "input[0].role")]
    [InlineData("{\"model\":\"TravelPlanner\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"http://x\"}]}]}", "input[0].content[0]")]
    [InlineData("{\"model\":\"TravelPlanner\"}", "input")]
    [InlineData("{\"input\":\"Hi\"}", "model")]
    public async Task Create_WhatTheAgentCannotHonour_IsRefusedWith400NamingTheParameter(string body, string param)
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var response = await http.PostAsync("/v1/responses", new StringContent(body, Encoding.UTF8, "application/json"), TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorAsync(response);
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Create_MalformedJson_Answers400WithThePositionOnly()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var response = await http.PostAsync("/v1/responses", new StringContent("{\"model\": \"TravelPlanner\", \"input\": ", Encoding.UTF8, "application/json"), TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var message = (await ErrorAsync(response)).GetProperty("message").GetString()!;
        Assert.StartsWith("The request body is not valid JSON", message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/v1/responses/resp_0123456789abcdef0123456789abcdef")]
    [InlineData("/v1/responses/resp_0123456789abcdef0123456789abcdef?stream=true")]
    [InlineData("/v1/responses/not-ours")]
    [InlineData("/v1/responses/resp_0123456789abcdef0123456789abcdef/input_items")]
    public async Task Get_UnknownResponse_Answers404InOpenAIShape(string url)
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var response = await http.GetAsync(url, TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("not_found", (await ErrorAsync(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Stream_RealRun_EventsInTheOrderTheSdksExpect_TextEqualsTheRunsAnswer()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var started = await ResponseEvents.StartBackgroundAsync(http, "Plan 2 days in Kyoto for temples");
        var id = started.GetProperty("id").GetString()!;
        Assert.StartsWith("resp_", id, StringComparison.Ordinal);
        Assert.Contains(started.GetProperty("status").GetString(), new[] { "queued", "in_progress" });
        Assert.True(started.GetProperty("background").GetBoolean());

        var events = await ResponseEvents.ReadAsync(http, id);

        ResponseEvents.AssertWellFormed(events);
        Assert.Equal(["response.created", "response.in_progress"], events.Take(2).Select(e => e.Type));
        // The agent's tool calls: mcp_call items, added at the call, done with the result.
        var calls = events.Where(e => e.Type == "response.output_item.done" && e.Data.GetProperty("item").GetProperty("type").GetString() == "mcp_call").ToList();
        Assert.Contains(calls, c => c.Data.GetProperty("item").GetProperty("name").GetString() == "get_weather_forecast");
        Assert.All(calls, c => Assert.Equal("completed", c.Data.GetProperty("item").GetProperty("status").GetString()));
        // The message item's life, in the order the SDKs' accumulators require.
        var messageId = events.First(e => e.Type == "response.output_item.added" && e.Data.GetProperty("item").GetProperty("type").GetString() == "message")
            .Data.GetProperty("item").GetProperty("id").GetString();
        var life = events.Where(e => e.Json.Contains(messageId!, StringComparison.Ordinal)).Select(e => e.Type).Where(t => t != "response.output_text.delta").ToList();
        Assert.Equal(["response.output_item.added", "response.content_part.added", "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"], life);
        var deltas = string.Concat(events.Where(e => e.Type == "response.output_text.delta").Select(e => e.Data.GetProperty("delta").GetString()));
        var completed = events[^1].Data.GetProperty("response");
        Assert.Equal("completed", completed.GetProperty("status").GetString());
        Assert.Equal(deltas, ResponseEvents.FinalText(completed));
        var runId = id["resp_".Length..];
        var run = await TestRuns.WaitForEndAsync(http, runId);
        Assert.Equal(run.GetProperty("response").GetString(), deltas);
        var polled = await ResponseEvents.WaitForEndAsync(http, id);
        Assert.Equal(completed.GetRawText(), polled.GetRawText());
    }

    [Fact]
    public async Task Get_WhileLive_ShowsTheOutputSoFar_ABackgroundResponseSaysSo()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var id = (await ResponseEvents.StartBackgroundAsync(http, "Plan a 10-day trip to Kyoto with food, museums and temples")).GetProperty("id").GetString()!;
        var seen = await ResponseEvents.ReadAsync(http, id, max: 12);
        var deltas = string.Concat(seen.Where(e => e.Type == "response.output_text.delta").Select(e => e.Data.GetProperty("delta").GetString()));
        Assert.NotEmpty(deltas);

        var live = await http.GetFromJsonAsync<JsonElement>("/v1/responses/" + id, TestRuns.Deadline());

        Assert.Equal("in_progress", live.GetProperty("status").GetString());
        Assert.True(live.GetProperty("background").GetBoolean());
        var message = Assert.Single(live.GetProperty("output").EnumerateArray(), item => item.GetProperty("type").GetString() == "message");
        Assert.Equal("in_progress", message.GetProperty("status").GetString());
        var soFar = ResponseEvents.FinalText(live);
        Assert.StartsWith(deltas, soFar, StringComparison.Ordinal);
        var final = await ResponseEvents.WaitForEndAsync(http, id);
        Assert.StartsWith(soFar, ResponseEvents.FinalText(final), StringComparison.Ordinal);
        Assert.True(soFar.Length < ResponseEvents.FinalText(final).Length, "The live GET came after the run's last text.");
        Assert.True(final.GetProperty("background").GetBoolean());
    }

    [Fact]
    public async Task Get_AForegroundStreamedResponse_SaysBackgroundFalse_WhileLiveAndOnceItsClientLeftAndItWasCancelled()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/responses")
        {
            Content = JsonContent.Create(new { model = ResponseEvents.Model, input = "Plan a 10-day trip to Kyoto with food, museums and temples", stream = true }),
        };
        string id;
        using (var streamed = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestRuns.Deadline()))
        {
            var first = await ResponseEvents.ReadEventsAsync(streamed, 6, TestRuns.Deadline());
            id = first[0].Data.GetProperty("response").GetProperty("id").GetString()!;
            Assert.False(first[0].Data.GetProperty("response").GetProperty("background").GetBoolean());
            var live = await http.GetFromJsonAsync<JsonElement>("/v1/responses/" + id, TestRuns.Deadline());
            Assert.Equal(("in_progress", false), (live.GetProperty("status").GetString(), live.GetProperty("background").GetBoolean()));
        }

        // The client left: as OpenAI does with a foreground response, the run is cancelled.
        var final = await ResponseEvents.WaitForEndAsync(http, id);
        Assert.Equal(("cancelled", false), (final.GetProperty("status").GetString(), final.GetProperty("background").GetBoolean()));
    }

    [Fact]
    public async Task Create_Wait_AnswersTheCompletedResponse_InputItemsHoldTheQuestion()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var response = await http.PostAsJsonAsync("/v1/responses", new { model = ResponseEvents.Model, input = new[] { new { role = "user", content = "Plan 1 day in Bern" } } }, TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("completed", body.GetProperty("status").GetString());
        Assert.False(body.GetProperty("background").GetBoolean());
        Assert.Contains("Bern", ResponseEvents.FinalText(body), StringComparison.Ordinal);
        var items = await http.GetFromJsonAsync<JsonElement>($"/v1/responses/{body.GetProperty("id").GetString()}/input_items", TestRuns.Deadline());
        Assert.Equal("Plan 1 day in Bern", items.GetProperty("data")[0].GetProperty("content")[0].GetProperty("text").GetString());
    }

    /// <summary>
    /// A crash re-run, written to the stream as the runtime writes it (attempt 2 claims the stream: a <c>reset</c>,
    /// and the abandoned entries are trimmed). A reader that was live ends the abandoned message as incomplete and
    /// gets the new attempt's text in a new item; a reader that starts afterwards never sees the abandoned text.
    /// Both end with the final answer exactly once.
    /// </summary>
    [Fact]
    public async Task Stream_CrashReRun_AbandonedItemEndsIncomplete_FinalAnswerArrivesOnce()
    {
        var runId = RunIds.New();
        var id = "resp_" + runId;
        var first = fixture.Streams.CreateWriter(runId, attempt: 1);
        await first.BeginAsync();
        await first.AppendAsync(AgentStreamEntry.ForText("Abandoned "));
        await first.AppendAsync(AgentStreamEntry.ForText("draft"));
        await first.FlushAsync();
        using var http = ApiFixture.Client(fixture.BaseAddress);

        // A live reader: created, in_progress, item added, part added, two deltas; then attempt 2 begins.
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/{id}?stream=true");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestRuns.Deadline());
        var live = new List<ReceivedEvent>();
        using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestRuns.Deadline())))
        {
            var block = new StringBuilder();
            var attempt2Written = false;
            while (await reader.ReadLineAsync(TestRuns.Deadline()) is { } line)
            {
                block.Append(line).Append('\n');
                if (line.Length != 0)
                {
                    continue;
                }

                live.AddRange(SseParser.Parse(block.ToString()).Events.Select(e => new ReceivedEvent(e.Type, e.Data)));
                block.Clear();
                if (!attempt2Written && live.Count(e => e.Type == "response.output_text.delta") == 2)
                {
                    attempt2Written = true;
                    var second = fixture.Streams.CreateWriter(runId, attempt: 2);
                    await second.BeginAsync();
                    await second.AppendAsync(AgentStreamEntry.ForText("Final "));
                    await second.AppendAsync(AgentStreamEntry.ForText("answer"));
                    await second.CompleteAsync(AgentStreamEntry.ForDone());
                }
            }
        }

        ResponseEvents.AssertWellFormed(live);
        var abandoned = live.Single(e => e.Type == "response.output_item.done" && e.Data.GetProperty("item").GetProperty("status").GetString() == "incomplete");
        Assert.Equal(0, abandoned.Data.GetProperty("output_index").GetInt32());
        Assert.Equal("Abandoned draft", abandoned.Data.GetProperty("item").GetProperty("content")[0].GetProperty("text").GetString());
        // Then a response.in_progress listing the abandoned item, and the new attempt's item after it.
        var restart = live.SkipWhile(e => e != abandoned).Skip(1).First();
        Assert.Equal("response.in_progress", restart.Type);
        Assert.Equal("incomplete", restart.Data.GetProperty("response").GetProperty("output").EnumerateArray().Single().GetProperty("status").GetString());
        var added = live.Where(e => e.Type == "response.output_item.added").ToList();
        Assert.Equal([0, 1], added.Select(e => e.Data.GetProperty("output_index").GetInt32()));
        var afterReset = live.SkipWhile(e => e != abandoned).Where(e => e.Type == "response.output_text.delta");
        Assert.Equal("Final answer", string.Concat(afterReset.Select(e => e.Data.GetProperty("delta").GetString())));
        var completed = live[^1].Data.GetProperty("response");
        Assert.Equal("Final answer", ResponseEvents.FinalText(completed));
        Assert.Single(completed.GetProperty("output").EnumerateArray());

        // A reader that starts now: the abandoned entries are gone, the answer is the new attempt's, once.
        var replay = await ResponseEvents.ReadAsync(http, id);
        ResponseEvents.AssertWellFormed(replay);
        Assert.DoesNotContain(replay, e => e.Json.Contains("Abandoned", StringComparison.Ordinal));
        Assert.Equal("Final answer", string.Concat(replay.Where(e => e.Type == "response.output_text.delta").Select(e => e.Data.GetProperty("delta").GetString())));
        Assert.Equal(completed.GetRawText(), replay[^1].Data.GetProperty("response").GetRawText());
        // From the reset on, both readers got events with the same numbers and types; the new reader's restart lists
        // no item and its new item is at index 0.
        var liveBySequence = live.ToDictionary(e => e.SequenceNumber);
        foreach (var e in replay)
        {
            Assert.Equal(liveBySequence[e.SequenceNumber].Type, e.Type);
        }

        var replayRestart = replay[2];
        Assert.Equal(restart.SequenceNumber, replayRestart.SequenceNumber);
        Assert.Empty(replayRestart.Data.GetProperty("response").GetProperty("output").EnumerateArray());
        Assert.Equal(0, replay.Single(e => e.Type == "response.output_item.added").Data.GetProperty("output_index").GetInt32());

        // A reader that resumes from inside the abandoned attempt (its entries now trimmed) gets the new reader's view.
        var resumed = await ResponseEvents.ReadAsync(http, id, startingAfter: live.First(e => e.Type == "response.output_text.delta").SequenceNumber);
        Assert.Equal(replay.Skip(2).Select(e => e.Json), resumed.Select(e => e.Json));
    }

    /// <summary>
    /// For any cut points and any number of reconnects, the events received (each connection resumes with
    /// <c>starting_after</c> = the last <c>sequence_number</c> it got) are exactly one full replay: no gap, no duplicate.
    /// </summary>
    [Fact]
    public async Task Stream_ResumeWithStartingAfter_AnyCutsAndReconnects_UnionEqualsOneFullReplay()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var started = await ResponseEvents.StartBackgroundAsync(http, "Plan 3 days in Lisbon for food and museums");
        var id = started.GetProperty("id").GetString()!;
        await ResponseEvents.WaitForEndAsync(http, id);
        var full = await ResponseEvents.ReadAsync(http, id);
        ResponseEvents.AssertWellFormed(full);
        Assert.True(full.Count > 10, $"Only {full.Count} events");

        await Gen.Int[1, full.Count].Array[0, 6].SampleAsync(async cuts =>
        {
            var received = new List<ReceivedEvent>();
            int? after = null;
            foreach (var cut in cuts)
            {
                var part = await ResponseEvents.ReadAsync(http, id, after, cut);
                received.AddRange(part);
                if (part.Count > 0)
                {
                    after = part[^1].SequenceNumber;
                }

                if (received.Count >= full.Count)
                {
                    break;
                }
            }

            if (received.Count < full.Count)
            {
                received.AddRange(await ResponseEvents.ReadAsync(http, id, after));
            }

            Assert.Equal(full.Select(e => e.Json), received.Select(e => e.Json));
        }, iter: 40, threads: 1);
    }

    [Fact]
    public async Task Stream_StartingAfterMalformed_Answers400()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var started = await ResponseEvents.StartBackgroundAsync(http, "Plan 1 day in Graz");

        using var response = await http.GetAsync($"/v1/responses/{started.GetProperty("id").GetString()}?stream=true&starting_after=-3", TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("starting_after", (await ErrorAsync(response)).GetProperty("param").GetString());
    }

    private static async Task<JsonElement> ErrorAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var error = body.GetProperty("error");
        foreach (var field in new[] { "message", "type", "code", "param" })
        {
            Assert.True(error.TryGetProperty(field, out _), $"error.{field} missing in {body}");
        }

        return error;
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>Starting runs the three ways, cancelling them, and reading conversations, against the real Worker.</summary>
public sealed class RunApiTests(ApiFixture fixture)
{
    [Fact]
    public async Task StartRun_FireAndForget_Answers202WithLocationIdsAndStreamUrl()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var response = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "Plan 2 days in Porto for food" });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var runId = body.GetProperty("runId").GetString()!;
        var conversationId = body.GetProperty("conversationId").GetString()!;
        Assert.Matches("^[0-9a-f]{32}$", runId);
        Assert.Matches("^[0-9a-f]{32}$", conversationId);
        Assert.Equal($"/agents/{TestRuns.Agent}/runs/{runId}", response.Headers.Location?.OriginalString);
        Assert.Equal($"/agents/{TestRuns.Agent}/runs/{runId}/stream", body.GetProperty("links").GetProperty("stream").GetString());
        var run = await TestRuns.WaitForEndAsync(http, runId);
        Assert.Equal("completed", run.GetProperty("status").GetString());
    }

    [Fact]
    public async Task StartRun_PreferWait_AnswersWithTheFinalResponse()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/agents/{TestRuns.Agent}/runs")
        {
            Content = JsonContent.Create(new { message = "Plan 1 day in Rome" }),
        };
        request.Headers.Add("Prefer", "wait=60");

        using var response = await http.SendAsync(request, TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("wait=60", response.Headers.GetValues("Preference-Applied").Single());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("completed", body.GetProperty("status").GetString());
        var text = body.GetProperty("response").GetString();
        Assert.Contains("Rome", text, StringComparison.Ordinal);
        var entries = await TestRuns.EntriesAsync(fixture.Multiplexer, body.GetProperty("runId").GetString()!);
        Assert.Equal(text, string.Concat(entries.Where(e => e.Type == "text").Select(e => e.Text)));
    }

    [Fact]
    public async Task StartRun_AcceptEventStream_StartsAndStreamsInOneResponse()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/agents/{TestRuns.Agent}/runs")
        {
            Content = JsonContent.Create(new { message = "Plan 2 days in Oslo" }),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestRuns.Deadline());
        var body = await response.Content.ReadAsStringAsync(TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var runId = response.Headers.GetValues("X-Run-Id").Single();
        Assert.Matches("^[0-9a-f]{32}$", response.Headers.GetValues("X-Conversation-Id").Single());
        var events = SseParser.Parse(body).Events;
        Assert.Equal("run", events[0].Type);
        Assert.Equal(runId, JsonDocument.Parse(events[0].Data).RootElement.GetProperty("runId").GetString());
        var entries = await TestRuns.EntriesAsync(fixture.Multiplexer, runId);
        Assert.Equal(entries.Select(e => (e.Id, e.Type, TestRuns.ExpectedData(e))), events.Skip(1).Select(e => (e.LastEventId, e.Type, e.Data)));
        Assert.Equal("done", events[^1].Type);
    }

    [Fact]
    public async Task CancelRun_WhileRunning_EndsTheStreamWithCancelled()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        // A long trip keeps the offline model busy long enough to be cancelled mid-answer.
        var started = await TestRuns.StartAsync(http, "Plan 14 days in Japan for food, art, nature and history");
        var runId = started.GetProperty("runId").GetString()!;

        using var cancel = await http.PostAsync($"/agents/{TestRuns.Agent}/runs/{runId}/cancel", null);

        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var (_, body) = await TestRuns.ReadSseAsync(http, $"/agents/{TestRuns.Agent}/runs/{runId}/stream");
        Assert.Equal("cancelled", SseParser.Parse(body).Events[^1].Type);
        var run = await TestRuns.WaitForEndAsync(http, runId);
        Assert.Equal("cancelled", run.GetProperty("status").GetString());
    }

    [Fact]
    public async Task GetConversation_AfterTwoRuns_HasHistoryAndRunStates()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var first = await TestRuns.StartAsync(http, "Plan 1 day in Paris");
        var conversationId = first.GetProperty("conversationId").GetString()!;
        var second = await TestRuns.StartAsync(http, "Now 1 day in Lyon", conversationId);
        Assert.Equal(conversationId, second.GetProperty("conversationId").GetString());
        await TestRuns.WaitForEndAsync(http, second.GetProperty("runId").GetString()!);

        var conversation = await http.GetFromJsonAsync<JsonElement>($"/agents/{TestRuns.Agent}/conversations/{conversationId}");

        Assert.Equal(["user", "assistant", "user", "assistant"], conversation.GetProperty("history").EnumerateArray().Select(m => m.GetProperty("role").GetString()));
        Assert.Equal(["completed", "completed"], conversation.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("status").GetString()));
    }

    [Fact]
    public async Task StartRun_TextPlainBody_IsAccepted()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var response = await http.PostAsync($"/agents/{TestRuns.Agent}/runs", new StringContent("Plan 1 day in Bern", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task OpenApi_Document_DescribesTheRoutes()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        var document = await http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        var paths = document.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/agents/{agent}/runs", out _));
        Assert.True(paths.TryGetProperty("/agents/{agent}/runs/{runId}/stream", out _));
        Assert.True(paths.TryGetProperty("/agents/{agent}/runs/{runId}/cancel", out _));
        Assert.True(paths.TryGetProperty("/agents/{agent}/conversations/{conversationId}", out _));
    }

    [Fact]
    public async Task UserText_NeverReachesTheLogAboveTrace()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var marker = "Zanzibar-" + Guid.NewGuid().ToString("N")[..8];

        var started = await TestRuns.StartAsync(http, $"Plan 1 day in {marker}");
        var runId = started.GetProperty("runId").GetString()!;
        await TestRuns.WaitForEndAsync(http, runId);
        // The run's id is logged at Information when it ends, after everything the run logged before.
        await fixture.Worker.WaitForOutputAsync($"Run {runId} ended", TimeSpan.FromSeconds(10));

        Assert.DoesNotContain(marker, fixture.Worker.Output, StringComparison.Ordinal);
    }
}

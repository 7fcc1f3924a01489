using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>Every error status of the API, each with a problem-details body.</summary>
public sealed class ErrorContractTests(ApiFixture fixture)
{
    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        return problem;
    }

    [Fact]
    public async Task Stream_MalformedCursor_Answers400NamingTheCursor()
    {
        var runId = await TestRuns.WriteRunAsync(fixture.Streams, [AgentStreamEntry.ForText("x")]);
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var response = await http.GetAsync($"/agents/{TestRuns.Agent}/runs/{runId}/stream?cursor=yesterday");

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("Malformed cursor", problem.GetProperty("title").GetString());
        Assert.Contains("yesterday", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_MalformedLastEventId_Answers400NamingTheHeader()
    {
        var runId = await TestRuns.WriteRunAsync(fixture.Streams, [AgentStreamEntry.ForText("x")]);
        using var http = ApiFixture.Client(fixture.BaseAddress);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/agents/{TestRuns.Agent}/runs/{runId}/stream");
        request.Headers.Add("Last-Event-ID", "12-x");

        using var response = await http.SendAsync(request);

        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("Malformed Last-Event-ID", problem.GetProperty("title").GetString());
    }

    [Fact]
    public async Task Stream_UnknownRun_Answers404AtOnce()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var watch = Stopwatch.StartNew();

        using var response = await http.GetAsync($"/agents/{TestRuns.Agent}/runs/{RunIds.New()}/stream");

        await ProblemAsync(response, HttpStatusCode.NotFound);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"404 took {watch.Elapsed} (the reader's not-found wait is 30 s).");
    }

    [Fact]
    public async Task GetRunAndCancel_UnknownRun_Answer404()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var runId = RunIds.New();

        using var get = await http.GetAsync($"/agents/{TestRuns.Agent}/runs/{runId}");
        using var cancel = await http.PostAsync($"/agents/{TestRuns.Agent}/runs/{runId}/cancel", null);
        using var conversation = await http.GetAsync($"/agents/{TestRuns.Agent}/conversations/{RunIds.New()}");

        await ProblemAsync(get, HttpStatusCode.NotFound);
        await ProblemAsync(cancel, HttpStatusCode.NotFound);
        await ProblemAsync(conversation, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Stream_ExpiredStreamOfAKnownRun_Answers410()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var started = await TestRuns.StartAsync(http, "Plan 1 day in Ghent");
        var runId = started.GetProperty("runId").GetString()!;
        await TestRuns.WaitForEndAsync(http, runId);
        // What expiry does: the stream and its metadata are gone.
        await fixture.Multiplexer.GetDatabase().KeyDeleteAsync([$"agent-stream:{runId}", $"{{agent-stream:{runId}}}:meta"]);

        using var response = await http.GetAsync($"/agents/{TestRuns.Agent}/runs/{runId}/stream");

        await ProblemAsync(response, HttpStatusCode.Gone);
    }

    [Fact]
    public async Task StartRun_MessageOverTheLimit_Answers413()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var response = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = new string('a', 2001) });
        using var huge = await http.PostAsync($"/agents/{TestRuns.Agent}/runs", new StringContent(new string('b', 100_000), Encoding.UTF8, "text/plain"));

        await ProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        await ProblemAsync(huge, HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task StartRun_EmptyMessageOrBadJson_Answers400()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var empty = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "  " });
        using var broken = await http.PostAsync($"/agents/{TestRuns.Agent}/runs", new StringContent("{\"message\":", Encoding.UTF8, "application/json"));

        await ProblemAsync(empty, HttpStatusCode.BadRequest);
        await ProblemAsync(broken, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task StartRun_UnknownAgentOrConversation_Answers404()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var agent = await http.PostAsJsonAsync("/agents/NoSuchAgent/runs", new { message = "hi" });
        using var conversation = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "hi", conversationId = "guessed" });

        await ProblemAsync(agent, HttpStatusCode.NotFound);
        await ProblemAsync(conversation, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Cors_IsClosedByDefault()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        using var request = new HttpRequestMessage(HttpMethod.Options, $"/agents/{TestRuns.Agent}/runs");
        request.Headers.Add("Origin", "https://evil.example");
        request.Headers.Add("Access-Control-Request-Method", "POST");

        using var response = await http.SendAsync(request);

        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task EveryRoute_UnknownAgent_Answers404UnknownAgent()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var runId = RunIds.New();

        using var get = await http.GetAsync($"/agents/NoSuchAgent/runs/{runId}");
        using var stream = await http.GetAsync($"/agents/NoSuchAgent/runs/{runId}/stream");
        using var cancel = await http.PostAsync($"/agents/NoSuchAgent/runs/{runId}/cancel", null);
        using var conversation = await http.GetAsync($"/agents/NoSuchAgent/conversations/{runId}");
        using var start = await http.PostAsJsonAsync("/agents/NoSuchAgent/runs", new { message = "hi" });

        foreach (var response in new[] { get, stream, cancel, conversation, start })
        {
            var problem = await ProblemAsync(response, HttpStatusCode.NotFound);
            Assert.Equal("Unknown agent", problem.GetProperty("title").GetString());
            Assert.Contains("NoSuchAgent", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task StartRun_UnsupportedContentType_Answers415ProblemJson()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var form = await http.PostAsync($"/agents/{TestRuns.Agent}/runs", new FormUrlEncodedContent([new("message", "hi")]));
        using var xml = await http.PostAsync($"/agents/{TestRuns.Agent}/runs", new StringContent("<message>hi</message>", Encoding.UTF8, "application/xml"));

        await ProblemAsync(form, HttpStatusCode.UnsupportedMediaType);
        await ProblemAsync(xml, HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task StartRun_BadJson_DoesNotEchoTheParsersMessage()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var broken = await http.PostAsync($"/agents/{TestRuns.Agent}/runs", new StringContent("{\"message\": 42}", Encoding.UTF8, "application/json"));

        var problem = await ProblemAsync(broken, HttpStatusCode.BadRequest);
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.DoesNotContain("System.", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("Path:", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownRouteAndWrongMethod_AnswerProblemJson()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        using var route = await http.GetAsync("/no/such/route");
        using var method = await http.DeleteAsync($"/agents/{TestRuns.Agent}/runs");

        await ProblemAsync(route, HttpStatusCode.NotFound);
        await ProblemAsync(method, HttpStatusCode.MethodNotAllowed);
    }

    [Theory]
    [InlineData("application/json; charset=foo")]
    [InlineData("application/json; charset=\"\"")]
    [InlineData("text/plain; charset=foo")]
    public async Task StartRun_CharsetTheServerCannotDecode_Answers415ProblemJson(string contentType)
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        using var content = new ByteArrayContent("{\"message\":\"Plan 1 day in Bruges\"}"u8.ToArray());
        Assert.True(content.Headers.TryAddWithoutValidation("Content-Type", contentType));

        using var response = await http.PostAsync($"/agents/{TestRuns.Agent}/runs", content);

        var problem = await ProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        Assert.Equal("Unsupported charset", problem.GetProperty("title").GetString());
    }

    [Theory]
    [InlineData("text/html")]
    [InlineData("text/event-stream")]
    [InlineData("application/xml")]
    public async Task UnknownRouteWrongMethodAndUnknownDocument_AnswerProblemJson_WhateverTheAcceptHeader(string accept)
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        http.DefaultRequestHeaders.TryAddWithoutValidation("Accept", accept);

        using var route = await http.GetAsync("/no/such/route");
        using var method = await http.DeleteAsync($"/agents/{TestRuns.Agent}/runs");
        using var document = await http.GetAsync("/openapi/v2-probe.json");

        await ProblemAsync(route, HttpStatusCode.NotFound);
        await ProblemAsync(method, HttpStatusCode.MethodNotAllowed);
        var unknownDocument = await ProblemAsync(document, HttpStatusCode.NotFound);
        Assert.DoesNotContain("v2-probe", unknownDocument.GetRawText(), StringComparison.Ordinal);
    }
}

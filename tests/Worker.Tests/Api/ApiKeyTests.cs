using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>The API key (on a second Worker that requires one) on every non-health route, and the per-client rate limits.</summary>
public sealed class ApiKeyTests(ApiFixture fixture)
{
    [Fact]
    public async Task EveryEndpoint_WithoutOrWithAWrongKey_Answers401()
    {
        var baseAddress = await fixture.KeyedWorkerAsync();
        // Refused posts count against the rate limit too: a source address of its own keeps them from other tests.
        using var http = ApiFixture.Client(baseAddress, "127.0.0.79");
        var runId = RunIds.New();
        string[] gets = [$"/agents/{TestRuns.Agent}/runs/{runId}", $"/agents/{TestRuns.Agent}/runs/{runId}/stream", $"/agents/{TestRuns.Agent}/conversations/{runId}", "/agents/conversations", "/agents/no-such-page.html", "/openapi/v1.json", "/", "/dashboard", "/dashboard/", "/no/such/route"];

        foreach (var key in new string?[] { null, "wrong-key-0123456789", ApiFixture.ApiKey + "x" })
        {
            foreach (var url in gets)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                if (key is not null)
                {
                    request.Headers.Add("X-Api-Key", key);
                }

                using var response = await http.SendAsync(request);
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }

            using var post = new HttpRequestMessage(HttpMethod.Post, $"/agents/{TestRuns.Agent}/runs") { Content = JsonContent.Create(new { message = "hi" }) };
            if (key is not null)
            {
                post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            }

            using var posted = await http.SendAsync(post);
            Assert.Equal(HttpStatusCode.Unauthorized, posted.StatusCode);
        }
    }

    [Fact]
    public async Task Run_WithTheKeyAsHeaderBearerOrCookie_IsServed()
    {
        var baseAddress = await fixture.KeyedWorkerAsync();
        using var http = ApiFixture.Client(baseAddress);
        using var start = new HttpRequestMessage(HttpMethod.Post, $"/agents/{TestRuns.Agent}/runs") { Content = JsonContent.Create(new { message = "Plan 1 day in Bruges" }) };
        start.Headers.Add("X-Api-Key", ApiFixture.ApiKey);

        using var started = await http.SendAsync(start);

        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var body = await started.Content.ReadFromJsonAsync<JsonElement>();
        using var bearer = new HttpRequestMessage(HttpMethod.Get, body.GetProperty("links").GetProperty("self").GetString());
        bearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiFixture.ApiKey);
        using var run = await http.SendAsync(bearer);
        Assert.Equal(HttpStatusCode.OK, run.StatusCode);
        using var cookie = new HttpRequestMessage(HttpMethod.Get, body.GetProperty("links").GetProperty("stream").GetString());
        cookie.Headers.Add("Cookie", "agent_api_key=" + ApiFixture.ApiKey);
        using var stream = await http.SendAsync(cookie, HttpCompletionOption.ResponseHeadersRead, TestRuns.Deadline());
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        Assert.Equal("done", SseParser.Parse(await stream.Content.ReadAsStringAsync(TestRuns.Deadline())).Events[^1].Type);
    }

    [Fact]
    public async Task StartRun_OverTheClientsRateLimit_Answers429WithRetryAfter()
    {
        var baseAddress = await fixture.KeyedWorkerAsync();
        // Its own source address: its own rate limit partition.
        using var http = ApiFixture.Client(baseAddress, "127.0.0.77");
        using var other = ApiFixture.Client(baseAddress, "127.0.0.78");
        http.DefaultRequestHeaders.Add("X-Api-Key", ApiFixture.ApiKey);
        other.DefaultRequestHeaders.Add("X-Api-Key", ApiFixture.ApiKey);

        for (var i = 0; i < ApiFixture.KeyedRunsPerWindow; i++)
        {
            using var accepted = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "Plan 1 day in Delft" });
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        using var limited = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "Plan 1 day in Delft" });
        using var otherClient = await other.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "Plan 1 day in Delft" });

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
        Assert.True(limited.Headers.RetryAfter is not null);
        Assert.Equal(HttpStatusCode.Accepted, otherClient.StatusCode);
    }

    [Fact]
    public async Task Root_WithTheKey_IsServed_HealthAndPages_NeedNone_TheDashboardIsOffByDefault()
    {
        var baseAddress = await fixture.KeyedWorkerAsync();
        using var http = ApiFixture.Client(baseAddress, "127.0.0.81");

        using var health = await http.GetAsync("/health");
        using var alive = await http.GetAsync("/alive");
        using var chat = await http.GetAsync("/chat/");
        using var agentsPage = await http.GetAsync("/agents/");
        using var agentsScript = await http.GetAsync("/agents/agents.js");
        using var styles = await http.GetAsync("/assets/app.css");
        using var root = new HttpRequestMessage(HttpMethod.Get, "/");
        root.Headers.Add("X-Api-Key", ApiFixture.ApiKey);
        using var rootAnswer = await http.SendAsync(root);
        using var dashboard = new HttpRequestMessage(HttpMethod.Get, "/dashboard/");
        dashboard.Headers.Add("Cookie", "agent_api_key=" + ApiFixture.ApiKey);
        using var dashboardAnswer = await http.SendAsync(dashboard);

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Equal(HttpStatusCode.OK, agentsPage.StatusCode);
        Assert.Equal(HttpStatusCode.OK, agentsScript.StatusCode);
        Assert.Equal(HttpStatusCode.OK, styles.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rootAnswer.StatusCode);
        Assert.Contains("AgentStreaming.Worker", await rootAnswer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, dashboardAnswer.StatusCode);
        Assert.Equal("application/problem+json", dashboardAnswer.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Reads_OverTheClientsRequestLimit_Answer429WithRetryAfter_HealthStaysOpen()
    {
        var baseAddress = await fixture.KeyedWorkerAsync();
        using var http = ApiFixture.Client(baseAddress, "127.0.0.80");
        http.DefaultRequestHeaders.Add("X-Api-Key", ApiFixture.ApiKey);
        var url = $"/agents/{TestRuns.Agent}/runs/{RunIds.New()}";

        for (var i = 0; i < ApiFixture.KeyedRequestsPerWindow; i++)
        {
            using var read = await http.GetAsync(url);
            Assert.Equal(HttpStatusCode.NotFound, read.StatusCode);
        }

        using var limited = await http.GetAsync(url);
        using var root = await http.GetAsync("/");
        using var health = await http.GetAsync("/health");

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
        Assert.True(limited.Headers.RetryAfter is not null);
        Assert.Equal(HttpStatusCode.TooManyRequests, root.StatusCode);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }
}

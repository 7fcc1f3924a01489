using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Testing;
using StackExchange.Redis;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>Redis goes away under a Worker of its own (its own redis-server, so the shared one is not disturbed).</summary>
public sealed class RedisOutageTests(ITestOutputHelper output)
{
    /// <summary>How soon after Redis goes away or comes back the API must say so ("within a second", plus room for a busy machine).</summary>
    private static readonly TimeSpan Promptly = TimeSpan.FromSeconds(1.5);

    [Fact]
    public async Task RedisDown_StartRunAndStream_Answer503ProblemWithRetryAfter_ThenRecover()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var worker = await StartWorkerAsync(redis, "outage", retryAfter: "00:00:07");
        using var http = ApiFixture.Client(worker.Url);
        var runId = await FinishedRunAsync(http, "Plan 1 day in Leuven");

        await redis.KillAsync();

        using var start = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "Plan 1 day in Mechelen" });
        using var stream = await http.GetAsync($"/agents/{TestRuns.Agent}/runs/{runId}/stream");
        using var run = await http.GetAsync($"/agents/{TestRuns.Agent}/runs/{runId}");
        foreach (var response in new[] { start, stream, run })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(503, problem.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrEmpty(problem.GetProperty("errorId").GetString()));
            Assert.DoesNotContain("127.0.0.1", problem.GetRawText(), StringComparison.Ordinal);
        }

        await redis.RestartAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var again = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "Plan 1 day in Mechelen" });
            if (again.StatusCode == HttpStatusCode.Accepted)
            {
                break;
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, again.StatusCode);
            Assert.True(DateTime.UtcNow < deadline, "The API did not accept runs again within 60 s of Redis coming back.");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task RedisBusy_RunAndStream_Answer503ProblemWithRetryAfter_ThenRecover()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var worker = await StartWorkerAsync(redis, "busy", retryAfter: "00:00:03");
        using var http = ApiFixture.Client(worker.Url);
        var runId = await FinishedRunAsync(http, "Plan 1 day in Namur");

        // A script that never ends makes Redis answer every other command with BUSY: connected, but not serving.
        await using var admin = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",allowAdmin=true");
        await admin.GetDatabase().ExecuteAsync("CONFIG", "SET", "lua-time-limit", "50");
        await using var blocker = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var script = blocker.GetDatabase().ExecuteAsync("EVAL", "while true do end", "0");
        var busyBy = DateTime.UtcNow.AddSeconds(10);
        while (!await IsBusyAsync(admin))
        {
            Assert.True(DateTime.UtcNow < busyBy, "Redis did not turn BUSY within 10 s.");
            await Task.Delay(20);
        }

        try
        {
            using var run = await http.GetAsync($"/agents/{TestRuns.Agent}/runs/{runId}");
            using var stream = await http.GetAsync($"/agents/{TestRuns.Agent}/runs/{runId}/stream");
            foreach (var response in new[] { run, stream })
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter?.Delta);
                var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
                Assert.False(string.IsNullOrEmpty(problem.GetProperty("errorId").GetString()));
                Assert.DoesNotContain("BUSY", problem.GetRawText(), StringComparison.Ordinal);
            }
        }
        finally
        {
            await admin.GetDatabase().ExecuteAsync("SCRIPT", "KILL");
            await ((Task)script).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }

        using var after = await http.GetAsync($"/agents/{TestRuns.Agent}/runs/{runId}");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    /// <summary>A Worker of the test's own on <paramref name="redis"/>, without rate limits, with the given <c>Retry-After</c>.</summary>
    [Fact]
    public async Task RedisRestartsWithoutItsData_ContinuingAConversation_Answers503ThenUnknownConversation_Never500()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        await using var worker = await StartWorkerAsync(redis, "dataloss", retryAfter: "00:00:01");
        using var http = ApiFixture.Client(worker.Url);
        var first = await TestRuns.StartAsync(http, "Plan 1 day in Ghent");
        var conversationId = first.GetProperty("conversationId").GetString()!;
        await TestRuns.WaitForEndAsync(http, first.GetProperty("runId").GetString()!);

        await redis.KillAsync();
        await redis.RestartAsync();

        // The activation still holds the conversation Redis lost: its write fails, it drops itself, and the client is
        // told to retry (503 + Retry-After); the retry finds that the conversation is gone with Redis's data.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpStatusCode status;
        string body;
        do
        {
            using var next = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "Now 1 day in Bruges", conversationId });
            (status, body) = (next.StatusCode, await next.Content.ReadAsStringAsync());
            output.WriteLine($"{(int)status}: {body}");
            Assert.NotEqual(HttpStatusCode.InternalServerError, status);
            if (status == HttpStatusCode.ServiceUnavailable)
            {
                Assert.NotNull(next.Headers.RetryAfter);
                await Task.Delay(next.Headers.RetryAfter.Delta ?? TimeSpan.FromSeconds(1));
            }
        }
        while (status == HttpStatusCode.ServiceUnavailable && DateTime.UtcNow < deadline);

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("Unknown conversation", body, StringComparison.Ordinal);
    }

    private static Task<WorkerProcess> StartWorkerAsync(RedisServer redis, string name, string retryAfter)
        => WorkerProcess.StartAsync(redis.ConnectionString, name + "-" + Guid.NewGuid().ToString("N")[..8], name + "-worker", tokensPerSecond: 0, new Dictionary<string, string?>
        {
            ["AgentApi__RunsPerWindow"] = "0",
            ["AgentApi__RequestsPerWindow"] = "0",
            ["AgentApi__UnavailableRetryAfter"] = retryAfter,
        });

    /// <summary>Starts a run and waits for its end, while Redis is still up: the run the outage is then asked about.</summary>
    private static async Task<string> FinishedRunAsync(HttpClient http, string message)
    {
        var started = await TestRuns.StartAsync(http, message);
        var runId = started.GetProperty("runId").GetString()!;
        await TestRuns.WaitForEndAsync(http, runId);
        return runId;
    }

    private static async Task<bool> IsBusyAsync(IConnectionMultiplexer redis)
    {
        try
        {
            await redis.GetDatabase().PingAsync();
            return false;
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("BUSY", StringComparison.Ordinal))
        {
            return true;
        }
    }

    /// <summary>Checks that <paramref name="path"/> answers 200, kills Redis, and times the next GET of it.</summary>
    private async Task<(HttpResponseMessage Response, TimeSpan Took)> GetOnceRedisIsDownAsync(HttpClient http, RedisServer redis, string path)
    {
        using (var before = await http.GetAsync(path))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await redis.KillAsync();
        var watch = Stopwatch.StartNew();
        var response = await http.GetAsync(path);
        var took = watch.Elapsed;
        output.WriteLine($"GET {path} with Redis down: {(int)response.StatusCode} after {took.TotalMilliseconds:0} ms");
        return (response, took);
    }

    [Fact]
    public async Task RedisDown_ConversationList_Answers503AtOnceWithRetryAfterAndErrorId()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var worker = await StartWorkerAsync(redis, "list", tokensPerSecond: 0);
        using var http = ApiFixture.Client(worker.Url);
        await TestRuns.StartAsync(http, "Plan 1 day in Leuven");
        var (response, took) = await GetOnceRedisIsDownAsync(http, redis, "/agents/conversations");
        using var _ = response;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("errorId").GetString()));
        Assert.True(took < Promptly, $"The 503 took {took.TotalMilliseconds:0} ms.");
    }

    [Fact]
    public async Task RedisDown_Health_AnswersUnhealthyWithinTheCheckTimeout()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var worker = await StartWorkerAsync(redis, "health", tokensPerSecond: 0);
        using var http = ApiFixture.Client(worker.Url);
        var (response, took) = await GetOnceRedisIsDownAsync(http, redis, "/health");
        using var _ = response;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        // ServiceDefaults' HealthCheckTimeout (1 s), plus room for a busy machine.
        Assert.True(took < TimeSpan.FromSeconds(2), $"/health took {took.TotalMilliseconds:0} ms to say unhealthy.");
    }

    [Fact]
    public async Task RedisDown_OpenSseStream_GetsUnavailableAtOnce_ThenResumesWithNoGapAndNoDuplicate()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: true);
        await using var worker = await StartWorkerAsync(redis, "stream", tokensPerSecond: 40);
        using var http = ApiFixture.Client(worker.Url);
        var started = await TestRuns.StartAsync(http, "Plan 2 days in Lisbon");
        var runId = started.GetProperty("runId").GetString()!;
        var events = new List<SseEvent>();

        // Read a few entries live, then take Redis away under the open stream.
        using (var first = await OpenSseAsync(http, runId, lastEventId: null))
        {
            Assert.Equal(HttpStatusCode.OK, first.Response.StatusCode);
            while (events.Count(e => e.Type == "text") < 5)
            {
                events.Add(await first.NextAsync(TimeSpan.FromSeconds(30)));
            }

            await redis.KillAsync();
            var watch = Stopwatch.StartNew();
            SseEvent next;
            while ((next = await first.NextAsync(TimeSpan.FromSeconds(60))).Type != "unavailable")
            {
                // Entries the Worker had read before the connection dropped.
                events.Add(next);
            }

            var took = watch.Elapsed;
            output.WriteLine($"event: unavailable {took.TotalMilliseconds:0} ms after Redis was killed, after {events.Count} events");
            Assert.True(took < Promptly, $"The open stream was told 'unavailable' {took.TotalMilliseconds:0} ms after Redis went away.");
        }

        await redis.RestartAsync();
        var lastEventId = events.Last(e => e.LastEventId.Length > 0).LastEventId;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (events[^1].Type != "done")
        {
            // What an EventSource does: reconnect with Last-Event-ID (a 503 while the Worker's connection comes back).
            using var again = await OpenSseAsync(http, runId, lastEventId);
            if (again.Response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                Assert.True(DateTime.UtcNow < deadline, "The stream did not open again within 60 s of Redis coming back.");
                await Task.Delay(100);
                continue;
            }

            Assert.Equal(HttpStatusCode.OK, again.Response.StatusCode);
            SseEvent next;
            do
            {
                next = await again.NextAsync(TimeSpan.FromSeconds(60));
                if (next.Type == "unavailable")
                {
                    break;
                }

                events.Add(next);
                lastEventId = next.LastEventId;
            }
            while (next.Type != "done");
        }

        await using var direct = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var stored = await TestRuns.EntriesAsync(direct, runId);
        Assert.Equal(stored.Select(e => e.Id), events.Select(e => e.LastEventId));
        Assert.Equal(stored.Select(e => e.Type), events.Select(e => e.Type));
    }

    [Fact]
    public async Task RedisBack_FirstRun_IsAcceptedWithinASecond()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: true);
        await using var worker = await StartWorkerAsync(redis, "back", tokensPerSecond: 0);
        using var http = ApiFixture.Client(worker.Url);
        var first = await TestRuns.StartAsync(http, "Plan 1 day in Antwerp");
        await TestRuns.WaitForEndAsync(http, first.GetProperty("runId").GetString()!);

        await redis.KillAsync();
        using (var down = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "Plan 1 day in Ypres" }))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        }

        await redis.RestartAsync();
        var watch = Stopwatch.StartNew();
        var attempts = new List<string>();
        while (true)
        {
            var sent = watch.Elapsed;
            using var again = await http.PostAsJsonAsync($"/agents/{TestRuns.Agent}/runs", new { message = "Plan 1 day in Ypres", conversationId = first.GetProperty("conversationId").GetString() });
            attempts.Add($"{(int)again.StatusCode} sent at {sent.TotalMilliseconds:0} ms, answered in {(watch.Elapsed - sent).TotalMilliseconds:0} ms");
            if (again.StatusCode == HttpStatusCode.Accepted)
            {
                break;
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, again.StatusCode);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "No run was accepted within 60 s of Redis coming back: " + string.Join("; ", attempts));
            await Task.Delay(50);
        }

        var took = watch.Elapsed;
        output.WriteLine($"First run accepted {took.TotalMilliseconds:0} ms after Redis answered PING again: " + string.Join("; ", attempts));
        Assert.True(took < Promptly, $"The first run was accepted {took.TotalMilliseconds:0} ms after Redis came back: " + string.Join("; ", attempts));
    }

    private static Task<WorkerProcess> StartWorkerAsync(RedisServer redis, string name, double tokensPerSecond)
        => WorkerProcess.StartAsync(redis.ConnectionString, name + "-" + Guid.NewGuid().ToString("N")[..8], name + "-worker", tokensPerSecond, new Dictionary<string, string?>
        {
            ["AgentApi__RunsPerWindow"] = "0",
            ["AgentApi__RequestsPerWindow"] = "0",
            ["AgentApi__UnavailableRetryAfter"] = "00:00:07",
        });

    private static async Task<SseConnection> OpenSseAsync(HttpClient http, string runId, string? lastEventId)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/agents/{TestRuns.Agent}/runs/{runId}/stream");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestRuns.Deadline());
        return new SseConnection(request, response, new StreamReader(await response.Content.ReadAsStreamAsync()));
    }

    /// <summary>An SSE response read event by event, as a client sees them.</summary>
    private sealed class SseConnection(HttpRequestMessage request, HttpResponseMessage response, StreamReader reader) : IDisposable
    {
        private readonly SseParser _parser = new();
        private int _taken;

        public HttpResponseMessage Response => response;

        public async Task<SseEvent> NextAsync(TimeSpan timeout)
        {
            using var deadline = new CancellationTokenSource(timeout);
            while (_parser.Events.Count == _taken)
            {
                var line = await reader.ReadLineAsync(deadline.Token) ?? throw new InvalidOperationException("The stream ended without a further event.");
                _parser.Feed(line + "\n");
            }

            return _parser.Events[_taken++];
        }

        public void Dispose()
        {
            reader.Dispose();
            response.Dispose();
            request.Dispose();
        }
    }
}

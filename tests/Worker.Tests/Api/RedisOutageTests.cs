using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Testing;
using StackExchange.Redis;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>Redis goes away under a Worker of its own (its own redis-server, so the shared one is not disturbed).</summary>
public sealed class RedisOutageTests
{
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
    private static Task<WorkerProcess> StartWorkerAsync(RedisServer redis, string name, string retryAfter)
        => WorkerProcess.StartAsync(redis, name + "-" + Guid.NewGuid().ToString("N")[..8], name + "-worker", tokensPerSecond: 0, new Dictionary<string, string?>
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
}

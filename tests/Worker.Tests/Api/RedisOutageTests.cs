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
        await using var worker = await WorkerProcess.StartAsync(redis, "outage-" + Guid.NewGuid().ToString("N")[..8], "outage-worker", tokensPerSecond: 0, new Dictionary<string, string?>
        {
            ["AgentApi__RunsPerWindow"] = "0",
            ["AgentApi__RequestsPerWindow"] = "0",
            ["AgentApi__UnavailableRetryAfter"] = "00:00:07",
        });
        using var http = ApiFixture.Client(worker.Url);
        var started = await TestRuns.StartAsync(http, "Plan 1 day in Leuven");
        var runId = started.GetProperty("runId").GetString()!;
        await TestRuns.WaitForEndAsync(http, runId);

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
        await using var worker = await WorkerProcess.StartAsync(redis, "busy-" + Guid.NewGuid().ToString("N")[..8], "busy-worker", tokensPerSecond: 0, new Dictionary<string, string?>
        {
            ["AgentApi__RunsPerWindow"] = "0",
            ["AgentApi__RequestsPerWindow"] = "0",
            ["AgentApi__UnavailableRetryAfter"] = "00:00:03",
        });
        using var http = ApiFixture.Client(worker.Url);
        var started = await TestRuns.StartAsync(http, "Plan 1 day in Namur");
        var runId = started.GetProperty("runId").GetString()!;
        await TestRuns.WaitForEndAsync(http, runId);

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

    [Fact]
    public async Task RedisDown_ConversationList_Answers503AtOnceWithRetryAfterAndErrorId()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var worker = await StartWorkerAsync(redis, "list", tokensPerSecond: 0);
        using var http = ApiFixture.Client(worker.Url);
        await TestRuns.StartAsync(http, "Plan 1 day in Leuven");
        using (var before = await http.GetAsync("/agents/conversations"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await redis.KillAsync();
        var watch = Stopwatch.StartNew();
        using var response = await http.GetAsync("/agents/conversations");
        var took = watch.Elapsed;
        output.WriteLine($"GET /agents/conversations with Redis down: {(int)response.StatusCode} after {took.TotalMilliseconds:0} ms");

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
        using (var before = await http.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await redis.KillAsync();
        var watch = Stopwatch.StartNew();
        using var response = await http.GetAsync("/health");
        var took = watch.Elapsed;
        output.WriteLine($"GET /health with Redis down: {(int)response.StatusCode} after {took.TotalMilliseconds:0} ms");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        // ServiceDefaults' HealthCheckTimeout (1 s), plus room for a busy machine.
        Assert.True(took < TimeSpan.FromSeconds(2), $"/health took {took.TotalMilliseconds:0} ms to say unhealthy.");
    }

    private static Task<WorkerProcess> StartWorkerAsync(RedisServer redis, string name, double tokensPerSecond)
        => WorkerProcess.StartAsync(redis, name + "-" + Guid.NewGuid().ToString("N")[..8], name + "-worker", tokensPerSecond, new Dictionary<string, string?>
        {
            ["AgentApi__RunsPerWindow"] = "0",
            ["AgentApi__RequestsPerWindow"] = "0",
            ["AgentApi__UnavailableRetryAfter"] = "00:00:07",
        });
}

using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Testing;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>Redis goes away under a Worker of its own (its own redis-server, so the shared one is not disturbed).</summary>
public sealed class RedisOutageTests
{
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
}

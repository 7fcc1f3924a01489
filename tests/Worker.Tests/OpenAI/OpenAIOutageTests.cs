using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Testing;
using AgentStreaming.Worker.Api.Tests;

namespace AgentStreaming.Worker.OpenAI.Tests;

/// <summary>Redis goes away under a Worker of its own: <c>/v1</c> answers 503 with <c>Retry-After</c> in OpenAI's shape, then recovers.</summary>
public sealed class OpenAIOutageTests
{
    [Fact]
    public async Task RedisDown_CreateGetAndStream_Answer503InOpenAIShapeWithRetryAfter_ThenRecover()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var worker = await WorkerProcess.StartAsync(redis.ConnectionString, "oai-outage-" + Guid.NewGuid().ToString("N")[..8], "oai-outage-worker", tokensPerSecond: 0, new Dictionary<string, string?>
        {
            ["AgentApi__RunsPerWindow"] = "0",
            ["AgentApi__RequestsPerWindow"] = "0",
            ["AgentApi__UnavailableRetryAfter"] = "00:00:07",
        });
        using var http = ApiFixture.Client(worker.Url);
        var started = await ResponseEvents.StartBackgroundAsync(http, "Plan 1 day in Leuven");
        var id = started.GetProperty("id").GetString()!;
        await ResponseEvents.WaitForEndAsync(http, id);

        await redis.KillAsync();

        using var create = await http.PostAsJsonAsync("/v1/responses", new { model = ResponseEvents.Model, input = "Plan 1 day in Mechelen", background = true });
        using var get = await http.GetAsync("/v1/responses/" + id);
        using var stream = await http.GetAsync("/v1/responses/" + id + "?stream=true");
        foreach (var response in new[] { create, get, stream })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("service_unavailable", body.GetProperty("error").GetProperty("code").GetString());
            Assert.DoesNotContain("127.0.0.1", body.GetRawText(), StringComparison.Ordinal);
        }

        await redis.RestartAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var again = await http.PostAsJsonAsync("/v1/responses", new { model = ResponseEvents.Model, input = "Plan 1 day in Mechelen", background = true });
            if (again.StatusCode == HttpStatusCode.OK)
            {
                break;
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, again.StatusCode);
            Assert.True(DateTime.UtcNow < deadline, "The API did not accept responses again within 60 s of Redis coming back.");
            await Task.Delay(200);
        }
    }
}

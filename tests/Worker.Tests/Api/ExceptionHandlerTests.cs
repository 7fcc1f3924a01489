using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.DurableAgents.Client;
using Microsoft.AspNetCore.Http;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>
/// The API's exception handler in a test host (<see cref="ApiTestHost"/>) with a route of the test's that throws. The
/// product has no such route.
/// </summary>
public sealed class ExceptionHandlerTests
{
    [Fact]
    public async Task UnexpectedException_Answers500ProblemWithAnErrorId_AndNoInternalText()
    {
        await using var host = await ApiTestHost.StartAsync(() => throw new InvalidOperationException("Internal detail that must stay in the log: connection string redis://secret@db"));

        using var response = await host.Http.GetAsync("/throws");

        var problem = await ProblemAsync(response, HttpStatusCode.InternalServerError);
        var body = problem.GetRawText();
        Assert.DoesNotContain("secret", body, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException", body, StringComparison.Ordinal);
        var errorId = problem.GetProperty("errorId").GetString()!;
        Assert.Contains(errorId, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        // The details stay in the log, under the same id.
        Assert.Contains(host.Logs, l => l.Contains(errorId, StringComparison.Ordinal) && l.Contains("secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StoreUnavailable_Answers503WithRetryAfter()
    {
        await using var host = await ApiTestHost.StartAsync(() => throw new DurableAgentsUnavailableException("Redis did not answer.", DurableAgentsUnavailableCause.Redis, null));

        using var response = await host.Http.GetAsync("/throws");

        var problem = await ProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is set.");
        Assert.True(problem.TryGetProperty("errorId", out _));
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}

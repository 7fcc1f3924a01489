using System.Text.Json;
using AgentStreaming.Testing;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary><c>curl -N</c> (the real binary) against the running Worker.</summary>
public sealed class CurlTests(ApiFixture fixture)
{
    [Fact]
    public async Task CurlN_TextPlainStream_EqualsThePersistedResponse()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var started = await TestRuns.StartAsync(http, "Plan 3 days in Lisbon for food and museums");
        var runId = started.GetProperty("runId").GetString()!;
        var headers = Path.GetTempFileName();

        var output = await CurlAsync("-sS", "-N", "-D", headers, "-H", "Accept: text/plain", new Uri(fixture.BaseAddress, started.GetProperty("links").GetProperty("stream").GetString()).ToString());

        var run = await TestRuns.WaitForEndAsync(http, runId);
        Assert.Equal(run.GetProperty("response").GetString(), output);
        var head = await File.ReadAllTextAsync(headers);
        Assert.Contains("content-type: text/plain; charset=utf-8", head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("x-run-id: " + runId, head, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("x-conversation-id: " + started.GetProperty("conversationId").GetString(), head, StringComparison.OrdinalIgnoreCase);
        File.Delete(headers);
    }

    [Fact]
    public async Task CurlN_StartAndStreamPlainText_EqualsThePersistedResponse()
    {
        var headers = Path.GetTempFileName();

        var output = await CurlAsync("-sS", "-N", "-D", headers, "-H", "Accept: text/plain", "-H", "Content-Type: text/plain", "--data-binary", "Plan 2 days in Vienna", new Uri(fixture.BaseAddress, $"/agents/{TestRuns.Agent}/runs").ToString());

        var runId = File.ReadAllLines(headers).Single(l => l.StartsWith("x-run-id:", StringComparison.OrdinalIgnoreCase))["x-run-id:".Length..].Trim();
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var run = await TestRuns.WaitForEndAsync(http, runId);
        Assert.Equal(run.GetProperty("response").GetString(), output);
        Assert.Contains("Vienna", output, StringComparison.Ordinal);
        File.Delete(headers);
    }

    private static async Task<string> CurlAsync(params string[] arguments)
    {
        var curl = await ProcessExits.RunAsync("curl", arguments, TimeSpan.FromSeconds(60), environment: new Dictionary<string, string> { ["LC_ALL"] = "C.UTF-8" });
        Assert.True(curl.ExitCode == 0, $"curl exited with {curl.ExitCode}: {curl.Stderr}");
        return curl.Stdout;
    }
}

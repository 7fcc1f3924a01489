using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace AgentStreaming.AppHost.Tests;

/// <summary>The Aspire dashboard's telemetry API (<c>/api/telemetry/…</c>, OTLP JSON) as the tests read it.</summary>
internal static class DashboardTelemetry
{
    /// <summary>A client of the dashboard, with the telemetry API's key when the AppHost gave it one.</summary>
    public static async Task<HttpClient> ClientAsync(AspireSystem system)
    {
        var dashboard = await system.App.GetDashboardUrlAsync() ?? throw new Xunit.Sdk.XunitException("The dashboard does not run.");
        var http = new HttpClient { BaseAddress = dashboard };
        if (system.App.Services.GetRequiredService<Microsoft.Extensions.Configuration.IConfiguration>()["AppHost:DashboardApiKey"] is { Length: > 0 } key)
        {
            http.DefaultRequestHeaders.Add("x-api-key", key);
        }

        return http;
    }

    /// <summary>The spans an API path answers, with the service that sent each.</summary>
    public static async Task<List<(string Service, string Name, JsonElement Span)>> SpansAsync(HttpClient dashboard, string path)
    {
        using var response = await dashboard.GetAsync(path);
        if (response.StatusCode == global::System.Net.HttpStatusCode.NotFound)
        {
            // The resource or trace has sent nothing yet.
            return [];
        }

        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var result = new List<(string, string, JsonElement)>();
        foreach (var resourceSpans in document.RootElement.GetProperty("data").GetProperty("resourceSpans").EnumerateArray())
        {
            var service = resourceSpans.GetProperty("resource").GetProperty("attributes").EnumerateArray()
                .FirstOrDefault(a => a.GetProperty("key").GetString() == "service.name").GetProperty("value").GetProperty("stringValue").GetString() ?? "?";
            foreach (var scope in resourceSpans.GetProperty("scopeSpans").EnumerateArray())
            {
                foreach (var span in scope.GetProperty("spans").EnumerateArray())
                {
                    result.Add((service, span.GetProperty("name").GetString()!, span.Clone()));
                }
            }
        }

        return result;
    }

    /// <summary>The demo Client's run: the trace that has the client's span, the Agent Framework's agent span, a model call and the stream's claim and end.</summary>
    public static async Task<List<(string Service, string Name, JsonElement Span)>> DemoTraceAsync(HttpClient dashboard)
    {
        List<(string Service, string Name, JsonElement Span)> trace = [];
        await AspireSystem.WaitUntilAsync(
            async () =>
            {
                // The traces the client took part in (the list holds the newest 100 traces by default), then each whole.
                var clientTraces = (await SpansAsync(dashboard, "/api/telemetry/traces?resource=client&limit=1000"))
                    .Select(s => s.Span.GetProperty("traceId").GetString()).Distinct().ToList();
                foreach (var traceId in clientTraces)
                {
                    var spans = await SpansAsync(dashboard, $"/api/telemetry/traces/{traceId}");
                    if (spans.Any(s => s.Service == "client")
                        && spans.Any(s => s.Service == "worker" && s.Name.StartsWith("invoke_agent", StringComparison.Ordinal))
                        && spans.Any(s => s.Service == "worker" && s.Name.StartsWith("chat", StringComparison.Ordinal))
                        && spans.Count(s => s.Name == "agent_stream append") >= 2
                        // The attempt's span ends last (after the terminal entry), so it may reach the dashboard after the others.
                        && spans.Any(s => s.Service == "worker" && s.Name.StartsWith("run_attempt", StringComparison.Ordinal)))
                    {
                        trace = spans;
                        return true;
                    }
                }

                return false;
            },
            TimeSpan.FromSeconds(60),
            () => "no trace with client, run_attempt, invoke_agent, chat and the stream's claim and terminal spans in the dashboard");
        return trace;
    }

    /// <summary>A span's attributes, string values as they are, others as JSON.</summary>
    public static Dictionary<string, string> Attributes(JsonElement span)
        => span.GetProperty("attributes").EnumerateArray().ToDictionary(
            a => a.GetProperty("key").GetString()!,
            a => a.GetProperty("value") is var value && value.TryGetProperty("stringValue", out var text) ? text.GetString() ?? string.Empty : value.ToString());

    /// <summary>Whether a span has no parent (a root: it started a trace).</summary>
    public static bool IsRoot(JsonElement span)
        => string.IsNullOrEmpty(span.TryGetProperty("parentSpanId", out var parent) ? parent.GetString() : null);

    /// <summary>When a span started.</summary>
    public static DateTimeOffset StartTime(JsonElement span)
    {
        var nanos = span.GetProperty("startTimeUnixNano") is { ValueKind: JsonValueKind.String } text
            ? ulong.Parse(text.GetString()!, System.Globalization.CultureInfo.InvariantCulture)
            : span.GetProperty("startTimeUnixNano").GetUInt64();
        return DateTimeOffset.FromUnixTimeMilliseconds((long)(nanos / 1_000_000));
    }
}

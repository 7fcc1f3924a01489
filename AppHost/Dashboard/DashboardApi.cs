using AgentStreaming.AppHost.Hosting;
using AgentStreaming.AppHost.Otlp;

namespace AgentStreaming.AppHost.Dashboard;

/// <summary>The dashboard's JSON API: resources (with restart/stop/start), console logs, traces, logs and metrics.</summary>
internal static class DashboardApi
{
    public static IEndpointRouteBuilder MapDashboardApi(this IEndpointRouteBuilder web)
    {
        var api = web.MapGroup("/api");
        api.MapGet("/resources", (DistributedApplication app) => app.Instances.Select(i => i.Snapshot()));
        api.MapGet("/resources/{name}/console", (DistributedApplication app, string name, long? after) =>
            Find(app, name) is { } instance ? Results.Ok(instance.Console.After(after ?? 0)) : NotFound(name));
        api.MapPost("/resources/{name}/restart", async (DistributedApplication app, string name) =>
        {
            if (Find(app, name) is not { } instance)
            {
                return NotFound(name);
            }

            await app.RestartResourceAsync(name);
            return Results.Ok(instance.Snapshot());
        });
        api.MapPost("/resources/{name}/stop", async (DistributedApplication app, string name) =>
        {
            if (Find(app, name) is not { } instance)
            {
                return NotFound(name);
            }

            await instance.StopAsync(TimeSpan.FromSeconds(10));
            return Results.Ok(instance.Snapshot());
        });
        api.MapGet("/traces", (TelemetryStore store) => store.Spans()
            .GroupBy(s => s.TraceId)
            .Select(g =>
            {
                var root = g.FirstOrDefault(s => s.ParentSpanId is null || g.All(p => p.SpanId != s.ParentSpanId)) ?? g.First();
                return new
                {
                    traceId = g.Key,
                    name = root.Service + ": " + root.Name,
                    start = g.Min(s => s.Start),
                    durationMs = (g.Max(s => s.End) - g.Min(s => s.Start)).TotalMilliseconds,
                    spans = g.Count(),
                    services = g.Select(s => s.Service).Distinct().Order(StringComparer.Ordinal).ToArray(),
                    errors = g.Count(s => s.Status == "Error"),
                };
            })
            .OrderByDescending(t => t.start)
            .Take(500));
        api.MapGet("/traces/{traceId}", (TelemetryStore store, string traceId) =>
            store.Trace(traceId) is { Count: > 0 } spans ? Results.Ok(spans) : Results.Problem(statusCode: 404, title: "Unknown trace", detail: $"No spans of trace '{traceId}' are stored."));
        api.MapGet("/logs", (TelemetryStore store, string? resource, string? level, string? text, string? traceId, int? take) => store.Logs()
            .Where(l => resource is null || l.Service == resource || l.Instance == resource)
            .Where(l => level is null || l.Level.Equals(level, StringComparison.OrdinalIgnoreCase))
            .Where(l => text is null || l.Message.Contains(text, StringComparison.OrdinalIgnoreCase) || l.Category.Contains(text, StringComparison.OrdinalIgnoreCase))
            .Where(l => traceId is null || string.Equals(l.TraceId, traceId, StringComparison.OrdinalIgnoreCase))
            .TakeLast(Math.Clamp(take ?? 500, 1, 5000)));
        api.MapGet("/metrics", (TelemetryStore store, string? name) => store.Metrics()
            .Where(m => name is null || m.Name == name)
            .Select(m => new { m.Name, m.Unit, m.Description, m.Type, m.Service, m.Attributes, points = m.Points }));
        api.MapGet("/telemetry/stats", (TelemetryStore store) => new { spans = store.Spans().Count, logs = store.Logs().Count, series = store.Metrics().Count, rejected = store.Rejected, store.Version });
        return web;
    }

    private static ResourceInstance? Find(DistributedApplication app, string name) => app.Instances.FirstOrDefault(i => i.Name == name);

    private static IResult NotFound(string name) => Results.Problem(statusCode: 404, title: "Unknown resource", detail: $"No resource instance named '{name}'.");
}

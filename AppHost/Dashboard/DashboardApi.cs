using AgentStreaming.AppHost.Hosting;
using AgentStreaming.AppHost.Otlp;

namespace AgentStreaming.AppHost.Dashboard;

/// <summary>
/// The dashboard's JSON API: resources (with restart/stop/start), console logs, traces, logs and metrics, agent
/// conversations and the live feeds (<see cref="DashboardLive"/>).
/// </summary>
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
        api.MapPost("/resources/{name}/start", async (DistributedApplication app, string name) =>
        {
            if (Find(app, name) is not { } instance)
            {
                return NotFound(name);
            }

            await app.StartResourceAsync(name);
            return Results.Ok(instance.Snapshot());
        });
        api.MapGet("/info", (DistributedApplication app, DashboardRedis redis) => new
        {
            dashboard = app.DashboardUrl,
            otlp = app.OtlpEndpoint,
            environment = app.EnvironmentName,
            serviceId = redis.ServiceId,
            limits = app.Telemetry.Limits,
        });
        api.MapGet("/traces", (TelemetryStore store, string? search, string? service, bool? errors) => store.Spans()
            .GroupBy(s => s.TraceId)
            .Where(g => search is null || g.Key.Equals(search, StringComparison.OrdinalIgnoreCase)
                || g.Any(s => s.Name.Contains(search, StringComparison.OrdinalIgnoreCase) || s.Attributes.Values.Any(v => v.Contains(search, StringComparison.OrdinalIgnoreCase))))
            .Where(g => service is null || g.Any(s => s.Service == service))
            .Where(g => errors is not true || g.Any(s => s.Status == "Error"))
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
        api.MapGet("/metrics/names", (TelemetryStore store) => store.Metrics()
            .GroupBy(m => m.Name)
            .Select(g => new { name = g.Key, unit = g.First().Unit, description = g.First().Description, type = g.First().Type, series = g.Count(), services = g.Select(m => m.Service).Distinct().Order(StringComparer.Ordinal).ToArray() })
            .OrderBy(m => m.name, StringComparer.Ordinal));
        api.MapGet("/telemetry/stats", (TelemetryStore store) => DashboardLive.Stats(store));
        DashboardLive.Map(api);
        DashboardAgentApi.Map(api);
        return web;
    }

    private static ResourceInstance? Find(DistributedApplication app, string name) => app.Instances.FirstOrDefault(i => i.Name == name);

    private static IResult NotFound(string name) => Results.Problem(statusCode: 404, title: "Unknown resource", detail: $"No resource instance named '{name}'.");
}

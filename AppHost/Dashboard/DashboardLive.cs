using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using AgentStreaming.AppHost.Hosting;
using AgentStreaming.AppHost.Otlp;

namespace AgentStreaming.AppHost.Dashboard;

/// <summary>
/// The dashboard's live feeds, as Server-Sent Events: <c>/api/events</c> (resource states and telemetry changes),
/// <c>/api/resources/{name}/console/stream</c> (console lines, resumable by <c>Last-Event-ID</c> = line number) and
/// <c>/api/runs/{runId}/stream</c> (a run's Redis Stream read server-side, resumable by <c>Last-Event-ID</c> = entry id).
/// </summary>
internal static class DashboardLive
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Retry = TimeSpan.FromSeconds(1);

    public static IEndpointRouteBuilder Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/events", EventsAsync);
        api.MapGet("/resources/{name}/console/stream", ConsoleAsync);
        api.MapGet("/runs/{runId}/stream", RunStreamAsync);
        api.MapGet("/runs/{runId}/entries", async (DashboardRedis redis, string runId, string? after) =>
        {
            if (!DashboardAgentApi.IsValidName(runId) || (after is not null && !DashboardAgentApi.IsValidCursor(after)))
            {
                return Results.Problem(statusCode: 400, title: "Malformed run id or cursor");
            }

            return redis.IsConfigured ? Results.Ok(await redis.RangeAsync(runId, after, 10_000)) : Results.Problem(statusCode: 503, title: "No Redis");
        });
        return api;
    }

    private static async Task EventsAsync(HttpContext context, DistributedApplication app, TelemetryStore telemetry)
    {
        const int ResourcesChanged = 1;
        const int TelemetryChanged = 2;
        var signals = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true });
        void OnState(ResourceInstance _) => signals.Writer.TryWrite(ResourcesChanged);
        void OnTelemetry() => signals.Writer.TryWrite(TelemetryChanged);
        var instances = app.Instances;
        foreach (var instance in instances)
        {
            instance.StateChanged += OnState;
        }

        telemetry.Changed += OnTelemetry;
        var ct = context.RequestAborted;
        try
        {
            var sse = await DashboardSse.StartAsync(context, Retry);
            await sse.SendAsync("resources", app.Instances.Select(i => i.Snapshot()), null, ct);
            await sse.SendAsync("telemetry", Stats(telemetry), null, ct);
            while (!ct.IsCancellationRequested)
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                wait.CancelAfter(Heartbeat);
                int first;
                try
                {
                    first = await signals.Reader.ReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    await sse.HeartbeatAsync(ct);
                    continue;
                }

                var resources = first == ResourcesChanged;
                var changed = first == TelemetryChanged;
                while (signals.Reader.TryRead(out var next))
                {
                    resources |= next == ResourcesChanged;
                    changed |= next == TelemetryChanged;
                }

                if (resources)
                {
                    await sse.SendAsync("resources", app.Instances.Select(i => i.Snapshot()), null, ct);
                }

                if (changed)
                {
                    await sse.SendAsync("telemetry", Stats(telemetry), null, ct);
                }

                // Coalesce bursts (a batch export raises many changes): at most a few updates a second per page.
                await Task.Delay(TimeSpan.FromMilliseconds(250), ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            telemetry.Changed -= OnTelemetry;
            foreach (var instance in instances)
            {
                instance.StateChanged -= OnState;
            }
        }
    }

    private static async Task ConsoleAsync(HttpContext context, DistributedApplication app, string name)
    {
        if (app.Instances.FirstOrDefault(i => i.Name == name) is not { } instance)
        {
            await Results.Problem(statusCode: 404, title: "Unknown resource").ExecuteAsync(context);
            return;
        }

        var last = long.TryParse(context.Request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : 0;
        var lines = Channel.CreateUnbounded<ConsoleLine>(new UnboundedChannelOptions { SingleReader = true });
        void OnLine(ConsoleLine line) => lines.Writer.TryWrite(line);
        // Subscribe before reading the backlog; lines in both are skipped by their sequence number.
        instance.Console.LineAdded += OnLine;
        var ct = context.RequestAborted;
        try
        {
            var sse = await DashboardSse.StartAsync(context, Retry);
            foreach (var line in instance.Console.After(last))
            {
                await SendLineAsync(sse, line, ct);
                last = line.Sequence;
            }

            await sse.SendAsync("caught-up", new { sequence = last }, null, ct);
            while (!ct.IsCancellationRequested)
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                wait.CancelAfter(Heartbeat);
                try
                {
                    var line = await lines.Reader.ReadAsync(wait.Token);
                    if (line.Sequence > last)
                    {
                        await SendLineAsync(sse, line, ct);
                        last = line.Sequence;
                    }
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    await sse.HeartbeatAsync(ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            instance.Console.LineAdded -= OnLine;
        }
    }

    private static Task SendLineAsync(DashboardSse sse, ConsoleLine line, CancellationToken ct)
        => sse.SendAsync("line", new { sequence = line.Sequence, time = line.Timestamp, text = line.Text, error = line.IsError }, line.Sequence.ToString(CultureInfo.InvariantCulture), ct);

    /// <summary>
    /// Follows a run's stream: the entries after the cursor (<c>XRANGE</c>), then new ones as they are written
    /// (<c>XREAD BLOCK</c> on a connection of its own), until the terminal entry. Events: <c>entry</c> (id = entry id),
    /// <c>waiting</c> (no stream yet), <c>end</c>, <c>expired</c>, <c>missing</c>.
    /// </summary>
    private static async Task RunStreamAsync(HttpContext context, DistributedApplication app, DashboardRedis redis, string runId, string? cursor)
    {
        var lastEventId = context.Request.Headers["Last-Event-ID"].ToString();
        var after = lastEventId.Length > 0 ? lastEventId : cursor;
        if (!DashboardAgentApi.IsValidName(runId) || (after is not null && !DashboardAgentApi.IsValidCursor(after)))
        {
            await Results.Problem(statusCode: 400, title: "Malformed run id or cursor").ExecuteAsync(context);
            return;
        }

        if (!redis.IsConfigured)
        {
            await Results.Problem(statusCode: 503, title: "No Redis", detail: "The topology has no Redis resource.").ExecuteAsync(context);
            return;
        }

        var ct = context.RequestAborted;
        var missingAfter = TimeSpan.FromSeconds(app.Configuration.GetValue("Dashboard:RunStreamWaitSeconds", 120));
        try
        {
            var sse = await DashboardSse.StartAsync(context, Retry);
            var seen = after is not null;
            while (true)
            {
                var backlog = await redis.RangeAsync(runId, after, 500);
                foreach (var entry in backlog)
                {
                    await sse.SendAsync("entry", entry, entry.Id, ct);
                    after = entry.Id;
                    seen = true;
                    if (entry.IsTerminal)
                    {
                        await sse.SendAsync("end", new { reason = entry.Type }, null, ct);
                        return;
                    }
                }

                if (backlog.Count < 500)
                {
                    break;
                }
            }

            if (!seen)
            {
                await sse.SendAsync("waiting", new { runId }, null, ct);
            }

            await using var blocking = await redis.ConnectBlockingAsync();
            var idle = Stopwatch.StartNew();
            var waited = Stopwatch.StartNew();
            while (!ct.IsCancellationRequested)
            {
                var entries = await DashboardRedis.ReadBlockingAsync(blocking, runId, after ?? "0-0", TimeSpan.FromSeconds(2));
                foreach (var entry in entries)
                {
                    await sse.SendAsync("entry", entry, entry.Id, ct);
                    after = entry.Id;
                    seen = true;
                    idle.Restart();
                    if (entry.IsTerminal)
                    {
                        await sse.SendAsync("end", new { reason = entry.Type }, null, ct);
                        return;
                    }
                }

                if (entries.Count == 0)
                {
                    if (!await redis.ExistsAsync(runId))
                    {
                        if (seen)
                        {
                            await sse.SendAsync("expired", new { runId }, null, ct);
                            return;
                        }

                        if (waited.Elapsed > missingAfter)
                        {
                            await sse.SendAsync("missing", new { runId }, null, ct);
                            return;
                        }
                    }

                    if (idle.Elapsed > Heartbeat)
                    {
                        await sse.HeartbeatAsync(ct);
                        idle.Restart();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (StackExchange.Redis.RedisException) when (context.Response.HasStarted)
        {
            // The page shows the stream as interrupted; EventSource reconnects with Last-Event-ID after retry.
            context.Abort();
        }
    }

    internal static object Stats(TelemetryStore store)
        => new { spans = store.Spans().Count, logs = store.Logs().Count, series = store.Metrics().Count, rejected = store.Rejected, version = store.Version };
}

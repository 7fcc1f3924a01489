// Warm start of the whole Aspire application, as `dotnet run --project AppHost` starts it (DCP, the Aspire dashboard,
// redis-server, one Worker, the demo Client), on a warm build: from StartAsync to "worker healthy" and to the first
// streamed text chunk the demo Client prints. Each run uses a new Redis data folder and new processes.
using System.Diagnostics;
using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
var ready = new List<double>();
var firstChunk = new List<double>();
var stopped = new List<double>();
for (var i = 0; i < runs; i++)
{
    var data = Directory.CreateTempSubdirectory("agent-streaming-bench-").FullName;
    var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
        new DistributedApplicationTestingBuilderOptions { EnableDashboard = true },
        [$"--Redis:DataDirectory={data}"]);
    builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
    var app = await builder.BuildAsync();
    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(180));
    var started = Stopwatch.GetTimestamp();
    // When each resource first runs and first reports healthy, to show where the start-up time goes.
    var phases = new System.Collections.Concurrent.ConcurrentDictionary<string, double>();
    _ = Task.Run(async () =>
    {
        await foreach (var e in app.ResourceNotifications.WatchAsync(timeout.Token))
        {
            var at = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (e.Snapshot.State?.Text == KnownResourceStates.Running)
            {
                phases.TryAdd($"{e.Resource.Name} running", at);
            }

            if (e.Snapshot.HealthStatus == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy)
            {
                phases.TryAdd($"{e.Resource.Name} healthy", at);
            }
        }
    });
    var start = app.StartAsync(timeout.Token);
    // The Client prints "run <id> · conversation <id>" and the tool calls on stderr, then the itinerary on stdout:
    // the first stdout line after that header is the first streamed chunk (Aspire's own lines, such as "Waiting
    // for resource 'worker'", come before it).
    var client = (await app.ResourceNotifications.WaitForResourceAsync("client", _ => true, timeout.Token)).ResourceId;
    var firstText = Task.Run(async () =>
    {
        var started = false;
        await foreach (var batch in app.Services.GetRequiredService<ResourceLoggerService>().WatchAsync(client).WithCancellation(timeout.Token))
        {
            foreach (var line in batch)
            {
                started |= line.IsErrorMessage && line.Content.Contains(" · conversation ", StringComparison.Ordinal);
                if (started && !line.IsErrorMessage && line.Content.Trim().Length > 0)
                {
                    return Stopwatch.GetTimestamp();
                }
            }
        }

        throw new InvalidOperationException("The demo Client printed no text.");
    });
    await start;
    await app.ResourceNotifications.WaitForResourceHealthyAsync("worker", timeout.Token);
    var readyAt = Stopwatch.GetTimestamp();
    var chunkAt = await firstText;
    ready.Add(Stopwatch.GetElapsedTime(started, readyAt).TotalSeconds);
    firstChunk.Add(Stopwatch.GetElapsedTime(started, chunkAt).TotalSeconds);
    await app.ResourceNotifications.WaitForResourceAsync("client", KnownResourceStates.Finished, timeout.Token);
    var stopping = Stopwatch.GetTimestamp();
    await app.DisposeAsync();
    stopped.Add(Stopwatch.GetElapsedTime(stopping).TotalSeconds);
    Directory.Delete(data, recursive: true);
    Console.Error.WriteLine($"run {i + 1}: ready {ready[^1]:0.00} s, first chunk {firstChunk[^1]:0.00} s, stop {stopped[^1]:0.00} s ("
        + string.Join(", ", phases.OrderBy(p => p.Value).Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:0.00} s"))) + ")");
}

Console.WriteLine("| measure | median | min | max | runs |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
Row("start → worker healthy (ready)", ready);
Row("start → first streamed chunk of the demo run", firstChunk);
Row("stop (dispose) → every process gone", stopped);

void Row(string name, List<double> values)
{
    var sorted = values.Order().ToList();
    var median = sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {median:0.00} s | {sorted[0]:0.00} s | {sorted[^1]:0.00} s | {sorted.Count} |"));
}

// Delivery latency from a Redis Stream write (Streaming.Core writer) to the SSE event received by HTTP clients of a
// real Worker process, with 1 and with N concurrent SSE clients, and the Worker's memory per idle SSE connection.
//
//   dotnet run -c Release --project bench/Http.Benchmarks -- [clients=1000] [events=300] [intervalMs=20]
// The OpenAI Responses routes next to the native SSE route (time to the first text event, resume in a long run):
//   dotnet run -c Release --project bench/Http.Benchmarks -- openai [rounds=100] [entries=10000]
using System.Diagnostics;
using System.Globalization;
using System.Net;
using AgentStreaming.HttpBenchmarks;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

var openAI = args.Length > 0 && args[0] == "openai";
if (openAI)
{
    args = args[1..];
}

var clients = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1000;
var events = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 300;
var interval = TimeSpan.FromMilliseconds(args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 20);

await using var redis = await RedisServer.StartAsync();
using var multiplexer = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
await using var streams = new RedisStreamResponseHandler(multiplexer, Options.Create(new RedisAgentStreamingOptions { ConnectionString = redis.ConnectionString }));
var port = FreePort.Next();
var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
await using var worker = ServiceProcess.StartDotnet("worker", RepoPaths.ProjectOutput("Worker", "AgentStreaming.Worker.dll"), [], new Dictionary<string, string?>
{
    ["ConnectionStrings__redis"] = redis.ConnectionString,
    ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
    ["Orleans__ClusterId"] = "bench-" + Guid.NewGuid().ToString("N")[..8],
    ["Logging__LogLevel__Default"] = "Warning",
    ["Logging__LogLevel__AgentStreaming.Worker"] = "Information",
    ["AgentApi__RunsPerWindow"] = "0",
    // A thousand clients connect within a second: the per-client request limit (600 a minute) would refuse most.
    ["AgentApi__RequestsPerWindow"] = "0",
    // The OpenAI scenario starts real runs: the offline model unthrottled, so a run's first text comes at once.
    ["OfflineDemoModel__TokensPerSecond"] = openAI ? "0" : null,
    // To try the reader's page size (entries per XRANGE while catching up): BENCH_READ_BATCH=N.
    ["AgentStreaming__Redis__ReadBatchSize"] = Environment.GetEnvironmentVariable("BENCH_READ_BATCH"),
});
await worker.WaitForOutputAsync("Worker ready", TimeSpan.FromSeconds(90));
var baseAddress = new Uri($"http://127.0.0.1:{port}");
Console.WriteLine($"Worker ({configuration}) on {baseAddress}, redis-server {redis.Port}; {Environment.ProcessorCount} cores.");

using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
{
    BaseAddress = baseAddress,
    Timeout = Timeout.InfiniteTimeSpan,
};

if (openAI)
{
    var rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100;
    var entries = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10_000;
    await OpenAIResponsesBenchmark.RunAsync(http, streams, rounds, entries);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Load average at the end: {File.ReadAllText("/proc/loadavg").Trim()}"));
    return 0;
}

// Warm up the Worker's stream path (JIT, connections).
await MeasureAsync(1, 50, TimeSpan.FromMilliseconds(5), print: false);
// Memory first: after the fan-out run the Worker's heap has grown and RSS would hide the connections' cost.
await MeasureIdleMemoryAsync(clients);
await MeasureAsync(1, events, interval, print: true);
await MeasureAsync(clients, events, interval, print: true);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Load average at the end: {File.ReadAllText("/proc/loadavg").Trim()}"));
return 0;

async Task MeasureAsync(int clientCount, int eventCount, TimeSpan spacing, bool print)
{
    var runId = RunIds.New();
    var writer = streams.CreateWriter(runId);
    await writer.BeginAsync();
    await writer.AppendAsync(AgentStreamEntry.ForText("start"));
    await writer.FlushAsync();

    var latencies = new List<double>[clientCount];
    var connected = new CountdownEvent(clientCount);
    var readers = new Task[clientCount];
    for (var i = 0; i < clientCount; i++)
    {
        var mine = latencies[i] = new List<double>(eventCount);
        readers[i] = Task.Run(() => ReadAsync(runId, mine, connected));
    }

    if (!connected.Wait(TimeSpan.FromSeconds(120)))
    {
        throw new TimeoutException($"Only {clientCount - connected.CurrentCount} of {clientCount} SSE clients connected.");
    }

    using var timer = new PeriodicTimer(spacing);
    for (var i = 0; i < eventCount; i++)
    {
        await timer.WaitForNextTickAsync();
        await writer.AppendAsync(AgentStreamEntry.ForText(Stopwatch.GetTimestamp().ToString(CultureInfo.InvariantCulture)));
    }

    await writer.CompleteAsync(AgentStreamEntry.ForDone());
    await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(120));
    if (print)
    {
        var all = latencies.SelectMany(l => l).Order().ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{clientCount,5} SSE client(s), {eventCount} events every {spacing.TotalMilliseconds} ms: {all.Length} deliveries; write → SSE event p50 {Percentile(all, 0.50):0.00} ms, p99 {Percentile(all, 0.99):0.00} ms, max {all[^1]:0.00} ms"));
    }
}

async Task ReadAsync(string runId, List<double> latencies, CountdownEvent connected)
{
    using var request = new HttpRequestMessage(HttpMethod.Get, $"/agents/TravelPlanner/runs/{runId}/stream");
    request.Headers.Add("Accept", "text/event-stream");
    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    if (response.StatusCode != HttpStatusCode.OK)
    {
        throw new InvalidOperationException($"Stream answered {response.StatusCode}.");
    }

    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
    var signalled = false;
    while (await reader.ReadLineAsync() is { } line)
    {
        if (!line.StartsWith("data: ", StringComparison.Ordinal))
        {
            continue;
        }

        var now = Stopwatch.GetTimestamp();
        if (!signalled)
        {
            // The first event ("start") means this client is live.
            signalled = true;
            connected.Signal();
            continue;
        }

        if (long.TryParse(line.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var written))
        {
            latencies.Add(Stopwatch.GetElapsedTime(written, now).TotalMilliseconds);
        }
    }
}

async Task MeasureIdleMemoryAsync(int connections)
{
    var runId = RunIds.New();
    var writer = streams.CreateWriter(runId);
    await writer.BeginAsync();
    await writer.AppendAsync(AgentStreamEntry.ForText("start"));
    await writer.FlushAsync();
    await SettleAsync();
    var before = Rss(worker.Id);

    using var cancel = new CancellationTokenSource();
    var connected = new CountdownEvent(connections);
    var idle = new Task[connections];
    for (var i = 0; i < connections; i++)
    {
        idle[i] = Task.Run(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/agents/TravelPlanner/runs/{runId}/stream");
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
            var signalled = false;
            try
            {
                while (await reader.ReadLineAsync(cancel.Token) is { } line)
                {
                    if (!signalled && line.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        signalled = true;
                        connected.Signal();
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
    }

    connected.Wait(TimeSpan.FromSeconds(120));
    await SettleAsync();
    var after = Rss(worker.Id);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{connections} idle SSE connections: Worker RSS {before / 1048576.0:0.0} MiB → {after / 1048576.0:0.0} MiB, {(after - before) / 1024.0 / connections:0.0} KiB per connection"));
    await writer.CompleteAsync(AgentStreamEntry.ForDone());
    await Task.WhenAll(idle).WaitAsync(TimeSpan.FromSeconds(60));
}

static async Task SettleAsync()
{
    // Let the Worker finish allocating for the connections before reading its RSS (a benchmark, not a test).
    await Task.Delay(TimeSpan.FromSeconds(3));
}

static long Rss(int processId)
{
    var line = File.ReadLines($"/proc/{processId}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
}

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using AgentStreaming.DurableAgents.Benchmarks;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Testing;
using AgentStreaming.Worker.Agents;

// Durable agent runs on one real in-process Orleans silo + client and a real redis-server:
//   1. accept: 100 concurrent callers start fire-and-forget runs back to back (each its own conversation, or a new
//      conversation per run) while the accepted runs execute; runs accepted per second and RunAsync latency;
//      and the same 100 conversations at a paced (open-loop) rate below capacity, and one caller alone;
//   2. time to first chunk: one run at a time on an idle system, offline demo model at zero pacing;
//   3. one long conversation (--history N turns, default 200): accept latency, bytes per turn and the grain state's
//      size at the first and the last turns.
//   dotnet run -c Release --project bench/DurableAgents.Benchmarks [-- --quick]
// The kill -9 → recovery figure needs real processes: see docs/benchmarks-durable.md (tests/SystemTests).
const string Usage = """
    DurableAgents.Benchmarks [--quick] [--aof] [--callers N] [--runs-per-caller N] [--rates R,R] [--ttfc-runs N]
      --quick              a short smoke run
      --aof                redis-server with AOF and appendfsync always (default: redis-server's defaults, no AOF)
      --callers N          concurrent callers (conversations) in the accept scenarios (default 100)
      --runs-per-caller N  runs each caller starts back to back (default 20)
      --rates R,R          paced scenarios: runs/s offered in all by the callers, one conversation each (default 50,100)
      --ttfc-runs N        sequential runs measured for time to first chunk (default 50)
      --history N          only the long-conversation scenario, with N turns (a full run includes it with 200)
      --blip S             only the Redis blip scenario: Redis down S seconds under a live run, 3 times
    """;

var callers = 100;
var runsPerCaller = 20;
var ttfcRuns = 50;
var aof = false;
var historyTurns = 200;
var historyOnly = false;
int[] rates = [50, 100];
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--quick": runsPerCaller = 3; ttfcRuns = 10; rates = [50]; break;
        case "--aof": aof = true; break;
        case "--rates" when i + 1 < args.Length: rates = [.. args[++i].Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture))]; break;
        case "--callers" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var n) && n > 0: callers = n; i++; break;
        case "--runs-per-caller" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var n) && n > 0: runsPerCaller = n; i++; break;
        case "--ttfc-runs" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var n) && n > 0: ttfcRuns = n; i++; break;
        case "--history" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var n) && n > 1: historyTurns = n; historyOnly = true; i++; break;
        case "--blip" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var s) && s > 0:
            await BlipScenario.RunAsync(TimeSpan.FromSeconds(s), repeats: 3, Console.Error);
            return 0;
        case "--help" or "-h": Console.WriteLine(Usage); return 0;
        default:
            await Console.Error.WriteLineAsync($"Unknown or incomplete argument '{args[i]}'.\n{Usage}");
            return 2;
    }
}

const string Prompt = "Plan a 3-day trip to Lisbon with food and museums";
var drainTimeout = TimeSpan.FromMinutes(10);
var log = Console.Error;

await using var redis = await RedisServer.StartAsync(appendOnly: aof);
using var meter = new RunMeter();
await using var cluster = await BenchCluster.StartAsync(redis);
var agent = cluster.Client.GetAgent(TravelPlannerAgent.Name);
long started = 0;
if (historyOnly)
{
    await HistoryScenario.RunAsync(redis, cluster.Client, TravelPlannerAgent.Name, Prompt, historyTurns, log);
    return 0;
}

await log.WriteLineAsync($"warm-up: {callers} callers × 2 runs");
var warmUp = await AcceptAsync(callers, 2, newConversationPerRun: false);
started += warmUp.Latencies.Count;
await meter.WaitForEndedAsync(started).WaitAsync(drainTimeout);

await log.WriteLineAsync($"accept, own conversation per caller: {callers} callers × {runsPerCaller} runs");
var sameConversation = await AcceptAsync(callers, runsPerCaller, newConversationPerRun: false);
started += sameConversation.Latencies.Count;
var drained = Stopwatch.StartNew();
await meter.WaitForEndedAsync(started).WaitAsync(drainTimeout);
var sameDrain = sameConversation.Elapsed + drained.Elapsed;

await log.WriteLineAsync($"accept, new conversation per run: {callers} callers × {runsPerCaller} runs");
var newConversation = await AcceptAsync(callers, runsPerCaller, newConversationPerRun: true);
started += newConversation.Latencies.Count;
drained.Restart();
await meter.WaitForEndedAsync(started).WaitAsync(drainTimeout);
var newDrain = newConversation.Elapsed + drained.Elapsed;

var paced = new List<(int Rate, (List<double> Latencies, TimeSpan Elapsed) Result, TimeSpan Finished)>();
foreach (var rate in rates)
{
    var runsEach = Math.Max(runsPerCaller / 2, 2);
    await log.WriteLineAsync($"paced: {callers} conversations, {rate} runs/s in all, {runsEach} runs each");
    var result = await PacedAsync(callers, runsEach, rate);
    started += result.Latencies.Count;
    drained.Restart();
    await meter.WaitForEndedAsync(started).WaitAsync(drainTimeout);
    paced.Add((rate, result, result.Elapsed + drained.Elapsed));
}

await log.WriteLineAsync("one caller alone, one run at a time, new conversation each");
var alone = new List<double>();
var aloneClock = Stopwatch.StartNew();
for (var i = 0; i < Math.Max(callers, 20); i++)
{
    var t0 = Stopwatch.GetTimestamp();
    var run = await agent.StartRunAsync(Prompt, agent.NewSession());
    alone.Add(Ms(t0));
    started++;
    await meter.WaitForEndedAsync(started).WaitAsync(drainTimeout);
}

var aloneElapsed = aloneClock.Elapsed;
var historySession = agent.NewSession();
for (var i = 0; i < runsPerCaller + 2; i++)
{
    await agent.RunAsync(Prompt, historySession);
}

var history = (await agent.GetConversationAsync(historySession)).History;
long stateBytes = 0;
await using (var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString))
{
    var server = connection.GetServer(connection.GetEndPoints()[0]);
    await foreach (var key in server.KeysAsync(pattern: "*" + historySession.ConversationId + "*"))
    {
        var usage = await connection.GetDatabase().ExecuteAsync("MEMORY", "USAGE", key);
        stateBytes += (long)usage;
    }
}

started += runsPerCaller + 2;

await log.WriteLineAsync($"time to first chunk: {ttfcRuns} runs one at a time");
meter.FirstChunkSeconds.Clear();
var firstEntry = new List<double>();
var firstText = new List<double>();
var whole = new List<double>();
for (var i = 0; i < ttfcRuns; i++)
{
    var t0 = Stopwatch.GetTimestamp();
    var run = await agent.StartRunAsync(Prompt, agent.NewSession());
    double? entry = null, text = null;
    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
    await foreach (var chunk in cluster.Client.StreamAsync(run.RunId, cancellationToken: cts.Token))
    {
        entry ??= Ms(t0);
        if (chunk.Kind == DurableRunChunkKind.Text && text is null)
        {
            text = Ms(t0);
        }

        if (chunk.IsTerminal && chunk.Kind != DurableRunChunkKind.Done)
        {
            throw new InvalidOperationException($"Run {run.RunId} ended with {chunk.Kind}: {chunk.Error}");
        }
    }

    firstEntry.Add(entry ?? double.NaN);
    firstText.Add(text ?? double.NaN);
    whole.Add(Ms(t0));
}

var grainFirstChunk = meter.FirstChunkSeconds.Select(s => s * 1000).ToList();

Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"Machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}; redis-server {(aof ? "with AOF, appendfsync always" : "with its default persistence (no AOF)")}; one silo + one client in this process; durable-agent settings: defaults."));
Console.WriteLine();
Console.WriteLine("| scenario | runs | accepted/s | accept p50 | accept p90 | accept p99 | accept max | all runs finished after |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
Row($"{callers} callers, own conversation each, back to back", sameConversation, sameDrain);
Row($"{callers} callers, new conversation per run", newConversation, newDrain);
foreach (var (rate, result, finished) in paced)
{
    Row($"{callers} conversations paced at {rate} runs/s in all (open loop)", result, finished);
}

Row("1 caller alone, waits for each run to end before the next (new conversation each)", (alone, aloneElapsed), aloneElapsed);
Console.WriteLine();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"Conversation state after {runsPerCaller + 2} runs (what a caller's conversation holds at the end of the first scenario): {history.Count} messages, {history.Sum(m => m.Text.Length) / 1024.0:0} KiB of text; its Redis keys take {stateBytes / 1024.0:0} KiB (MEMORY USAGE), of which the grain state holds only the runs in flight (history is an append-only log, one element per turn)."));
Console.WriteLine();
Console.WriteLine("| time to first chunk (offline model, zero pacing, idle system) | p50 | p90 | p99 | max |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
Dist("grain: attempt start → first update (metric `time_to_first_chunk`)", grainFirstChunk);
Dist("client: RunAsync called → first stream entry read (the `tool_call`)", firstEntry);
Dist("client: RunAsync called → first `text` entry read (after both tools ran)", firstText);
Dist("client: RunAsync called → `done` read (whole itinerary)", whole);
await HistoryScenario.RunAsync(redis, cluster.Client, TravelPlannerAgent.Name, Prompt, historyTurns, log);
return 0;

async Task<(List<double> Latencies, TimeSpan Elapsed)> AcceptAsync(int count, int runsEach, bool newConversationPerRun)
{
    var all = new List<double>(count * runsEach);
    var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    var tasks = Enumerable.Range(0, count).Select(async caller =>
    {
        var latencies = new List<double>(runsEach);
        var session = agent.NewSession();
        await start.Task;
        for (var r = 0; r < runsEach; r++)
        {
            if (newConversationPerRun && r > 0)
            {
                session = agent.NewSession();
            }

            var t0 = Stopwatch.GetTimestamp();
            _ = await agent.StartRunAsync(Prompt, session);
            latencies.Add(Ms(t0));
        }

        return latencies;
    }).ToList();
    var clock = Stopwatch.StartNew();
    start.SetResult();
    foreach (var latencies in await Task.WhenAll(tasks))
    {
        all.AddRange(latencies);
    }

    return (all, clock.Elapsed);
}

async Task<(List<double> Latencies, TimeSpan Elapsed)> PacedAsync(int count, int runsEach, int rate)
{
    // Open loop: caller i starts its k-th run at start + (k * count + i) / rate, whether or not earlier calls returned.
    var all = new List<double>(count * runsEach);
    var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 10;
    var tasks = Enumerable.Range(0, count).Select(async caller =>
    {
        var latencies = new List<double>(runsEach);
        var session = agent.NewSession();
        for (var k = 0; k < runsEach; k++)
        {
            var due = start + (long)((k * count + caller) * (double)Stopwatch.Frequency / rate);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }

            var t0 = Stopwatch.GetTimestamp();
            _ = await agent.StartRunAsync(Prompt, session);
            latencies.Add(Ms(t0));
        }

        return latencies;
    }).ToList();
    foreach (var latencies in await Task.WhenAll(tasks))
    {
        all.AddRange(latencies);
    }

    return (all, Stopwatch.GetElapsedTime(start));
}

static double Ms(long since) => Stopwatch.GetElapsedTime(since).TotalMilliseconds;

static double Percentile(List<double> values, double p)
{
    var sorted = values.Where(double.IsFinite).Order().ToList();
    if (sorted.Count == 0)
    {
        return double.NaN;
    }

    var rank = (int)Math.Ceiling(p / 100 * sorted.Count) - 1;
    return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
}

static void Row(string name, (List<double> Latencies, TimeSpan Elapsed) result, TimeSpan finished)
{
    var l = result.Latencies;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {name} | {l.Count} | {l.Count / result.Elapsed.TotalSeconds:0} | {Percentile(l, 50):0.0} ms | {Percentile(l, 90):0.0} ms | {Percentile(l, 99):0.0} ms | {l.Max():0.0} ms | {finished.TotalSeconds:0.0} s ({l.Count / finished.TotalSeconds:0} runs/s) |"));
}

static void Dist(string name, List<double> values) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"| {name} | {Percentile(values, 50):0.0} ms | {Percentile(values, 90):0.0} ms | {Percentile(values, 99):0.0} ms | {values.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Max():0.0} ms |"));

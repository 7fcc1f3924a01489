using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime;
using System.Runtime.InteropServices;
using AgentStreaming.Benchmarks;
using AgentStreaming.Testing;
using StackExchange.Redis;

// Side-by-side benchmark: our Redis Stream writer/reader (Streaming.Core) against the original sample's algorithm
// (Reference/OriginalSampleStreamHandler.cs), against one redis-server started for the whole run.
//   dotnet run -c Release --project bench/Streaming.Benchmarks [-- --quick]
//   dotnet run -c Release --project bench/Streaming.Benchmarks -- --only capacity [--steps 1000,2000,3000,5000] [--side both]

const string Usage = """
    Streaming.Benchmarks [--quick] [--only write|delivery|resume|cluster|capacity] [--max-batch-size N] [--read-batch-size N]
      --quick            a short smoke run (default: the full run whose numbers docs/benchmarks.md reports)
      --only X           run one scenario group and print its log lines only (no table); for investigation.
                         --only capacity runs the capacity scenario (not part of the full run) and prints its table
      --max-batch-size N, --read-batch-size N
                         override RedisAgentStreamingOptions for our side (default: the library defaults)
    capacity options:
      --steps N,N,…      concurrent runs per step (default 1000,2000,3000,5000)
      --step-seconds S   measured time per step (default 20)
      --warmup-seconds S warm-up per step, not measured (default 5)
      --side X           ours, reference, floor, node, both (= ours,reference) or all, or a comma list such as ours,floor
                         (default both; the sides alternate step by step). floor: plain pipelined XADDs with no
                         fencing, metadata, TTL or announcements, read by our reader's blocking tail. node: Vercel's
                         resumable-stream npm package in a Node process per step (bench/node-resumable-stream; needs
                         node and npm, installs its pinned packages there when missing)
      --allocations      (capacity) print the types this process allocated most, from the runtime's allocation sampling
      --find-capacity    then bisect (500-run granularity) between the largest step that held and the next that did not
      --pacers N         pacer loops driving the writers (default one per core)
    cluster options:
      --rounds N         (--only cluster) N rounds of 1,000 streams on the single server, then on the cluster, in the
                         same harness, so both p99s are taken at the same load (default 1)
    """;

var quick = false;
string? only = null;
int? maxBatchSize = null, readBatchSize = null;
var capacitySteps = CapacitySettings.DefaultSteps;
double stepSeconds = 20, warmupSeconds = 5;
AllocationSampler? allocations = null;
string side = "both";
var findCapacity = false;
var pacers = Environment.ProcessorCount;
var rounds = 1;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--quick": quick = true; break;
        case "--only" when i + 1 < args.Length && args[i + 1] is "write" or "delivery" or "resume" or "cluster" or "capacity": only = args[++i]; break;
        case "--max-batch-size" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var n): maxBatchSize = n; i++; break;
        case "--read-batch-size" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var n): readBatchSize = n; i++; break;
        case "--steps" when i + 1 < args.Length && TryParseSteps(args[i + 1], out var steps): capacitySteps = steps; i++; break;
        case "--step-seconds" when i + 1 < args.Length && double.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var s) && s > 0: stepSeconds = s; i++; break;
        case "--warmup-seconds" when i + 1 < args.Length && double.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var s) && s >= 0: warmupSeconds = s; i++; break;
        case "--side" when i + 1 < args.Length && args[i + 1].Split(',').All(s => s is "ours" or "reference" or "floor" or "node" or "both" or "all"): side = args[++i]; break;
        case "--find-capacity": findCapacity = true; break;
        case "--allocations": allocations = new AllocationSampler(); break;
        case "--pacers" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var n) && n > 0: pacers = n; i++; break;
        case "--rounds" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var n) && n > 0: rounds = n; i++; break;
        case "--help" or "-h": Console.WriteLine(Usage); return 0;
        default:
            await Console.Error.WriteLineAsync($"Unknown or incomplete argument '{args[i]}'.\n{Usage}");
            return 2;
    }
}

var settings = quick ? BenchSettings.Quick : BenchSettings.Full;
var log = Console.Error;

await using var server = await RedisServer.StartAsync();
var configuration = ConfigurationOptions.Parse(server.ConnectionString);
configuration.ClientName = "bench-ours";
await using var oursConnection = await ConnectionMultiplexer.ConnectAsync(configuration);
configuration = ConfigurationOptions.Parse(server.ConnectionString);
configuration.ClientName = "bench-reference";
await using var referenceConnection = await ConnectionMultiplexer.ConnectAsync(configuration);
configuration = ConfigurationOptions.Parse(server.ConnectionString);
configuration.ClientName = "bench-admin";
configuration.AllowAdmin = true; // INFO (CPU and version figures)
await using var adminConnection = await ConnectionMultiplexer.ConnectAsync(configuration);

var context = new BenchContext(oursConnection, referenceConnection, adminConnection, settings, log, options =>
{
    options.MaxBatchSize = maxBatchSize ?? options.MaxBatchSize;
    options.ReadBatchSize = readBatchSize ?? options.ReadBatchSize;
});
var redisInfo = await CpuMeter.InfoAsync(context.Admin, "server");
var machine = string.Create(CultureInfo.InvariantCulture,
    $"{Environment.ProcessorCount} cores ({CpuModel()}), {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}, " +
    $"{(GCSettings.IsServerGC ? "server" : "workstation")} GC, redis-server {CpuMeter.InfoField(redisInfo, "redis_version")} on loopback " +
    $"(same machine), StackExchange.Redis {PackageVersion(typeof(ConnectionMultiplexer))}; load average at start {LoadAverage()}");
await log.WriteLineAsync($"Run: {settings.Name}{(only is null ? "" : ", only " + only)}{(maxBatchSize is null ? "" : $", MaxBatchSize {maxBatchSize}")}{(readBatchSize is null ? "" : $", ReadBatchSize {readBatchSize}")}. Machine: {machine}");

var total = Stopwatch.StartNew();
void Step(string what) => log.WriteLine($"[{total.Elapsed:mm\\:ss}] {what}");

if (only is "capacity")
{
    // Its own warm-up per step; nothing else runs, so the steps see only the load this process offers.
    var capacity = new CapacitySettings(capacitySteps, TimeSpan.FromSeconds(stepSeconds), TimeSpan.FromSeconds(warmupSeconds),
        Ours: Sides("ours"), Reference: Sides("reference"), Floor: Sides("floor"), Node: Sides("node"), findCapacity, pacers);
    if (capacity.Measured < TimeSpan.FromSeconds(20))
    {
        Step("note: under 20 s measured per step; the published capacity figures use at least 20 s");
    }

    var loadBefore = LoadAverage();
    var results = await Capacity.RunAsync(context, capacity, Step);
    Console.WriteLine(Report.RenderCapacity(capacity, machine, total.Elapsed, loadBefore, LoadAverage(), results));
    if (allocations is not null)
    {
        Step("allocations sampled by type (whole run, both sides if both ran):");
        foreach (var line in allocations.Top(30))
        {
            Step("  " + line);
        }
    }
    return 0;
}

// Warm-up: JIT, script load, connection pools.
Step("warm-up");
await WriteThroughput.OursAsync(context, 10, 500, 1);
await WriteThroughput.ReferenceAsync(context, 10, 50, 1);
await DeliveryLatency.OursAsync(context, 10, settings.ChunksPerSecond, TimeSpan.FromSeconds(1));
await DeliveryLatency.ReferenceAsync(context, 10, settings.ChunksPerSecond, TimeSpan.FromSeconds(1));

ThroughputResult? write1Ours = null, write1Ref = null, writeManyOurs = null, writeManyRef = null;
LatencyResult? lat1Ours = null, lat1Ref = null, latManyOurs = null, latManyRef = null, floor = null, mixed = null;
ResumeResult? resume = null;

if (only is null or "write")
{
    Step("1. write throughput, 1 stream");
    write1Ours = await WriteThroughput.OursAsync(context, 1, settings.OursChunksOneStream, settings.Repetitions);
    Step($"   ours {write1Ours.Median:0} chunks/s; {write1Ours.Cpu}\n      {write1Ours.Cpu.Commands}");
    write1Ref = await WriteThroughput.ReferenceAsync(context, 1, settings.ReferenceChunksOneStream, settings.Repetitions);
    Step($"   reference {write1Ref.Median:0} chunks/s; {write1Ref.Cpu}\n      {write1Ref.Cpu.Commands}");

    Step($"1. write throughput, {settings.ManyWriteStreams} streams");
    writeManyOurs = await WriteThroughput.OursAsync(context, settings.ManyWriteStreams, settings.OursChunksPerStreamMany, settings.Repetitions);
    Step($"   ours {writeManyOurs.Median:0} chunks/s; {writeManyOurs.Cpu}\n      {writeManyOurs.Cpu.Commands}");
    writeManyRef = await WriteThroughput.ReferenceAsync(context, settings.ManyWriteStreams, settings.ReferenceChunksPerStreamMany, settings.Repetitions);
    Step($"   reference {writeManyRef.Median:0} chunks/s; {writeManyRef.Cpu}\n      {writeManyRef.Cpu.Commands}");
}

if (only is null or "delivery")
{
    Step("2. delivery latency, 1 stream");
    lat1Ours = await DeliveryLatency.OursAsync(context, 1, settings.ChunksPerSecond, settings.LatencyDurationOneStream);
    LogLatency("ours", lat1Ours);
    lat1Ref = await DeliveryLatency.ReferenceAsync(context, 1, settings.ChunksPerSecond, settings.LatencyDurationOneStream);
    LogLatency("reference", lat1Ref);

    Step($"2. delivery latency, {settings.ManyLatencyStreams} streams");
    latManyOurs = await DeliveryLatency.OursAsync(context, settings.ManyLatencyStreams, settings.ChunksPerSecond, settings.OursLatencyDurationMany);
    LogLatency("ours", latManyOurs);
    latManyRef = await DeliveryLatency.ReferenceAsync(context, settings.ManyLatencyStreams, settings.ChunksPerSecond, settings.ReferenceLatencyDurationMany);
    LogLatency("reference", latManyRef);
    // Diagnostics (not targets): what this machine allows for one stream with no library code, and our reader
    // fed by the reference writer (plain XADD + EXPIRE) at 1,000 streams, which separates our reader's share.
    Step("2. diagnostics");
    floor = await DeliveryLatency.RawFloorAsync(context, server.ConnectionString, settings.ChunksPerSecond, settings.LatencyDurationOneStream);
    LogLatency("floor: plain XADD → plain XREAD BLOCK, 1 stream", floor);
    mixed = await DeliveryLatency.OursAsync(context, settings.ManyLatencyStreams, settings.ChunksPerSecond, settings.OursLatencyDurationMany, referenceWriter: true);
    LogLatency("reference writer → our reader, 1,000 streams", mixed);
}

if (only is null or "resume")
{
    Step("3. resume from the middle of a 10,000-entry stream");
    resume = await ResumeLatency.RunAsync(context, settings.ResumeStreamLength, settings.ResumeRepetitions);
    Step($"   ours p50 {resume.Ours.Percentile(50):0.000} ms p99 {resume.Ours.Percentile(99):0.000} ms; reference p50 {resume.Reference.Percentile(50):0.000} ms p99 {resume.Reference.Percentile(99):0.000} ms");
}

LatencyResult? cluster1 = null, clusterMany = null;
if (only is null or "cluster")
{
    // Our writer and reader on a 3-primary Redis Cluster on this machine (the sharded-announcement tail).
    Step("4. delivery latency on a 3-primary Redis Cluster");
    await using var cluster = await RedisCluster.StartAsync();
    var clusterConfiguration = ConfigurationOptions.Parse(cluster.ConnectionString);
    clusterConfiguration.ClientName = "bench-ours";
    await using var clusterOurs = await ConnectionMultiplexer.ConnectAsync(clusterConfiguration);
    clusterConfiguration = ConfigurationOptions.Parse(cluster.ConnectionString);
    clusterConfiguration.ClientName = "bench-admin";
    clusterConfiguration.AllowAdmin = true;
    await using var clusterAdmin = await ConnectionMultiplexer.ConnectAsync(clusterConfiguration);
    var clusterContext = new BenchContext(clusterOurs, clusterOurs, clusterAdmin, settings, log, options =>
    {
        options.ConnectionString = cluster.ConnectionString;
        options.MaxBatchSize = maxBatchSize ?? options.MaxBatchSize;
        options.ReadBatchSize = readBatchSize ?? options.ReadBatchSize;
    });
    await DeliveryLatency.OursAsync(clusterContext, 10, settings.ChunksPerSecond, TimeSpan.FromSeconds(1));
    cluster1 = await DeliveryLatency.OursAsync(clusterContext, 1, settings.ChunksPerSecond, settings.LatencyDurationOneStream);
    LogLatency("cluster, 1 stream", cluster1);
    if (only is null)
    {
        clusterMany = await DeliveryLatency.OursAsync(clusterContext, settings.ManyLatencyStreams, settings.ChunksPerSecond, settings.OursLatencyDurationMany);
        LogLatency($"cluster, {settings.ManyLatencyStreams} streams", clusterMany);
    }

    // --only cluster: the single server and the cluster alternate in the same harness, so the ratio of their p99s is
    // taken at the same load (the machine's other work varies from minute to minute).
    for (var round = 1; only is "cluster" && round <= rounds; round++)
    {
        Step($"   round {round}: load average {LoadAverage()}");
        var single = await DeliveryLatency.OursAsync(context, settings.ManyLatencyStreams, settings.ChunksPerSecond, settings.OursLatencyDurationMany);
        LogLatency($"single server, {settings.ManyLatencyStreams} streams (load average {LoadAverage()})", single);
        clusterMany = await DeliveryLatency.OursAsync(clusterContext, settings.ManyLatencyStreams, settings.ChunksPerSecond, settings.OursLatencyDurationMany);
        LogLatency($"cluster, {settings.ManyLatencyStreams} streams (load average {LoadAverage()})", clusterMany);
        Step(string.Create(CultureInfo.InvariantCulture,
            $"   round {round}: cluster p99 ÷ single-server p99 = {clusterMany.Latency.Percentile(99) / single.Latency.Percentile(99):0.00}; Redis CPU µs per delivered chunk: single {1e6 * single.Cpu.RedisSeconds / single.Latency.Count:0.00}, cluster {1e6 * clusterMany.Cpu.RedisSeconds / clusterMany.Latency.Count:0.00} (all primaries)"));
    }
}

if (only is not null)
{
    return 0;
}

var report = Report.Render(settings, machine, total.Elapsed,
    write1Ours!, write1Ref!, writeManyOurs!, writeManyRef!, lat1Ours!, lat1Ref!, latManyOurs!, latManyRef!, resume!, floor!, mixed!);
Console.WriteLine(report);
Console.WriteLine(Report.RenderCluster(settings, cluster1!, clusterMany!));
return 0;

void LogLatency(string side, LatencyResult result)
    => Step(string.Create(CultureInfo.InvariantCulture,
        $"   {side}: p50 {result.Latency.Percentile(50):0.000} ms, p99 {result.Latency.Percentile(99):0.000} ms, p99.9 {result.Latency.Percentile(99.9):0.000} ms, max {result.Latency.Max:0.000} ms; {result.Latency.Count} samples, {result.DeliveredPerStreamPerSecond:0.0} chunks/s per stream; {result.Cpu}\n      {result.Legs}\n      {result.Pool}\n      {result.Cpu.Commands}"));

bool Sides(string name)
    => side.Split(',').Any(s => s == name || s == "all" || (s == "both" && name is "ours" or "reference"));

static bool TryParseSteps(string text, out IReadOnlyList<int> steps)
{
    var parsed = new List<int>();
    foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
    {
        if (!int.TryParse(part, CultureInfo.InvariantCulture, out var runs) || runs < 1)
        {
            steps = [];
            return false;
        }

        parsed.Add(runs);
    }

    steps = parsed;
    return parsed.Count > 0;
}

static string PackageVersion(Type type)
{
    var version = type.Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
    var plus = version.IndexOf('+', StringComparison.Ordinal);
    return plus < 0 ? version : version[..plus];
}

static string CpuModel()
{
    try
    {
        var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        return line is null ? RuntimeInformation.ProcessArchitecture.ToString() : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }
    catch (IOException)
    {
        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}

static string LoadAverage()
{
    try
    {
        return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
    }
    catch (IOException)
    {
        return "n/a";
    }
}

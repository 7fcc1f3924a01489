using System.Globalization;
using System.Text;

namespace AgentStreaming.Benchmarks;

/// <summary>Renders the results as markdown: the target table, then what was run.</summary>
internal static class Report
{
    public static string Render(
        BenchSettings settings,
        string machine,
        TimeSpan elapsed,
        ThroughputResult write1Ours,
        ThroughputResult write1Ref,
        ThroughputResult writeManyOurs,
        ThroughputResult writeManyRef,
        LatencyResult lat1Ours,
        LatencyResult lat1Ref,
        LatencyResult latManyOurs,
        LatencyResult latManyRef,
        ResumeResult resume,
        LatencyResult floor,
        LatencyResult mixed)
    {
        var sb = new StringBuilder();
        void Line(string text) => sb.Append(text).Append('\n');

        Line(F($"## Results ({settings.Name} run, {elapsed.TotalMinutes:0.0} min)"));
        Line(string.Empty);
        Line($"Machine: {machine}");
        Line(string.Empty);
        Line("| # | scenario | metric | ours | reference | ours / reference | target | met |");
        Line("| --- | --- | --- | ---: | ---: | ---: | --- | --- |");

        var ratio1 = write1Ours.Median / write1Ref.Median;
        Line(F($"| 1 | write, 1 stream | chunks/s | {write1Ours.Median:N0} | {write1Ref.Median:N0} | {ratio1:0.0}× | ≥ 30× | {Met(ratio1 >= 30)} |"));
        var ratioMany = writeManyOurs.Median / writeManyRef.Median;
        Line(F($"| 1 | write, {writeManyOurs.Streams} streams | chunks/s (all streams) | {writeManyOurs.Median:N0} | {writeManyRef.Median:N0} | {ratioMany:0.0}× | ≥ 3× | {Met(ratioMany >= 3)} |"));

        LatencyRows(sb, lat1Ours, lat1Ref, 2.0);
        LatencyRows(sb, latManyOurs, latManyRef, 10.0);

        var r50 = resume.Ours.Percentile(50);
        var f50 = resume.Reference.Percentile(50);
        Line(F($"| 3 | resume mid-stream ({resume.StreamLength:N0} entries, after entry {resume.StreamLength / 2:N0}) | time to first chunk p50 | {r50:0.000} ms | {f50:0.000} ms | {r50 / f50:0.00} | ≤ 1 ms | {Met(r50 <= 1.0)} |"));
        Line(F($"| 3 | resume mid-stream | time to first chunk p99 | {resume.Ours.Percentile(99):0.000} ms | {resume.Reference.Percentile(99):0.000} ms | {resume.Ours.Percentile(99) / resume.Reference.Percentile(99):0.00} | — | |"));

        Line(string.Empty);
        Line("### What ran");
        Line(string.Empty);
        Line("| scenario | side | size | result | CPU over the measured section |");
        Line("| --- | --- | --- | --- | --- |");
        Line(ThroughputDetail("write, 1 stream", "ours", write1Ours));
        Line(ThroughputDetail("write, 1 stream", "reference", write1Ref));
        Line(ThroughputDetail($"write, {writeManyOurs.Streams} streams", "ours", writeManyOurs));
        Line(ThroughputDetail($"write, {writeManyRef.Streams} streams", "reference", writeManyRef));
        Line(LatencyDetail("ours", lat1Ours, settings.ChunksPerSecond));
        Line(LatencyDetail("reference", lat1Ref, settings.ChunksPerSecond));
        Line(LatencyDetail("ours", latManyOurs, settings.ChunksPerSecond));
        Line(LatencyDetail("reference", latManyRef, settings.ChunksPerSecond));
        Line(LatencyDetail("diagnostic: plain XADD → plain XREAD BLOCK (no library code)", floor, settings.ChunksPerSecond));
        Line(LatencyDetail("diagnostic: reference writer → our reader", mixed, settings.ChunksPerSecond));
        Line(F($"| resume | both, alternating | {resume.Repetitions} repetitions after 20 warm-up ones | ours p50/p99/max {resume.Ours.Percentile(50):0.000}/{resume.Ours.Percentile(99):0.000}/{resume.Ours.Max:0.000} ms; reference {resume.Reference.Percentile(50):0.000}/{resume.Reference.Percentile(99):0.000}/{resume.Reference.Max:0.000} ms | |"));
        Line(string.Empty);
        Line("### Where the time goes (delivery)");
        Line(string.Empty);
        Line("Legs split at the moment the entry went to Redis (ours: the entries' `timestamp`, set when the pump's flush is sent; the reference: the ms part of the id Redis assigned; ±1 ms); Redis time per command from `INFO commandstats`; client queueing from a thread-pool probe.");
        Line(string.Empty);
        Line("| run | legs | client thread pool | Redis, busiest commands |");
        Line("| --- | --- | --- | --- |");
        foreach (var (name, result) in new[] { ("ours, 1 stream", lat1Ours), ("floor, 1 stream", floor), ("ours, 1,000 streams", latManyOurs), ("reference writer → our reader, 1,000 streams", mixed), ("reference, 1,000 streams", latManyRef) })
        {
            Line($"| {name} | {result.Legs} | {result.Pool} | {result.Cpu.Commands} |");
        }

        Line(string.Empty);
        Line("### Redis time per command (write throughput)");
        Line(string.Empty);
        Line("| run | Redis, busiest commands |");
        Line("| --- | --- |");
        Line($"| ours, 1 stream | {write1Ours.Cpu.Commands} |");
        Line($"| reference, 1 stream | {write1Ref.Cpu.Commands} |");
        Line($"| ours, {writeManyOurs.Streams} streams | {writeManyOurs.Cpu.Commands} |");
        Line($"| reference, {writeManyRef.Streams} streams | {writeManyRef.Cpu.Commands} |");
        return sb.ToString();
    }

    private static void LatencyRows(StringBuilder sb, LatencyResult ours, LatencyResult reference, double p99Target)
    {
        var name = ours.Streams == 1 ? "delivery, 1 stream @ 50 chunks/s" : F($"delivery, {ours.Streams:N0} streams @ 50 chunks/s each");
        var o50 = ours.Latency.Percentile(50);
        var r50 = reference.Latency.Percentile(50);
        var o99 = ours.Latency.Percentile(99);
        var r99 = reference.Latency.Percentile(99);
        sb.Append(F($"| 2 | {name} | latency p50 | {o50:0.000} ms | {r50:0.0} ms | {o50 / r50:0.0000} | — | |")).Append('\n');
        sb.Append(F($"| 2 | {name} | latency p99 | {o99:0.000} ms | {r99:0.0} ms | {o99 / r99:0.0000} | ≤ {p99Target:0} ms | {Met(o99 <= p99Target)} |")).Append('\n');
    }

    private static string ThroughputDetail(string scenario, string side, ThroughputResult result)
        => F($"| {scenario} | {side} | {result.Streams} × {result.ChunksPerStream:N0} chunks (+ done), {result.ChunksPerSecond.Length} repetition(s) | {string.Join(" / ", result.ChunksPerSecond.Select(r => r.ToString("N0", CultureInfo.InvariantCulture)))} chunks/s (median reported) | {result.Cpu} |");

    private static string LatencyDetail(string side, LatencyResult result, int rate)
        => F($"| delivery, {result.Streams:N0} stream{(result.Streams == 1 ? "" : "s")} | {side} | {result.Duration.TotalSeconds:0} s at {rate} chunks/s per stream | {result.Latency.Count:N0} samples, {result.DeliveredPerStreamPerSecond:0.0} chunks/s per stream delivered; p50/p99/p99.9/max {result.Latency.Percentile(50):0.000}/{result.Latency.Percentile(99):0.000}/{result.Latency.Percentile(99.9):0.000}/{result.Latency.Max:0.000} ms | {result.Cpu} |");

    private static string Met(bool met) => met ? "yes" : "**no**";

    private static string F(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>The Redis Cluster rows: our writer and reader on a 3-primary cluster (no reference side).</summary>
    public static string RenderCluster(BenchSettings settings, LatencyResult one, LatencyResult many)
    {
        static string Row(LatencyResult r, int rate)
            => string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"| delivery, {r.Streams:N0} stream{(r.Streams == 1 ? "" : "s")}, 3-primary cluster | {r.Duration.TotalSeconds:0} s at {rate} chunks/s per stream | {r.Latency.Count:N0} samples; p50/p99/p99.9/max {r.Latency.Percentile(50):0.000}/{r.Latency.Percentile(99):0.000}/{r.Latency.Percentile(99.9):0.000}/{r.Latency.Max:0.000} ms |");
        return string.Join('\n',
            "",
            "| Redis Cluster (ours only) | run | result |",
            "| --- | --- | --- |",
            Row(one, settings.ChunksPerSecond),
            Row(many, settings.ChunksPerSecond));
    }

    /// <summary>What the node side's figures leave out: what Vercel's resumable-stream does not survive (from its source, docs/benchmarks.md).</summary>
    private const string NodeSideNote =
        "node: Vercel's `resumable-stream` on node-redis, in a Node process of its own per step (one thread; its client CPU is that process's, including the producer's own stream, read and dropped). " +
        "It keeps a run's chunks only in the producer's memory and PUBLISHes each to the live reader's channel, so Redis stores no chunk. " +
        "It does not survive the producer's process ending (crash, deploy, kill): the chunks are gone, readers get no more and no end, a new reader's resume times out; " +
        "a Redis restart or failover (pub/sub messages sent meanwhile are lost, with no gap check; the sentinel key that resumes look up may be gone); " +
        "nor a reader coming back after the run ended (the buffer is dropped: the package answers \"already done\" and the application must have stored the text itself).";

    /// <summary>The capacity table (issue 12): one row per number of runs, ours and the reference side by side, then how the load was offered.</summary>
    public static string RenderCapacity(CapacitySettings settings, string machine, TimeSpan elapsed, string loadBefore, string loadAfter, IReadOnlyList<CapacityResult> results)
    {
        var sb = new StringBuilder();
        void Line(string text) => sb.Append(text).Append('\n');

        Line(F($"## Capacity ({elapsed.TotalMinutes:0.0} min; load average {loadBefore} before, {loadAfter} after)"));
        Line(string.Empty);
        Line($"Machine: {machine}");
        Line(string.Empty);
        Line(F($"Every run written at {settings.ChunksPerSecond} chunks/s and followed by one live reader, writers and readers in this process, one redis-server; {settings.Warmup.TotalSeconds:0} s warm-up, then {settings.Measured.TotalSeconds:0} s measured per step (less where a side was cut). A step holds with delivery p99 ≤ {settings.P99TargetMs:0} ms, no chunk lost or out of order, all drained, and ≥ {100 * settings.DeliveredShareTarget:0}% of the offered chunks delivered in the window."));
        Line(string.Empty);
        Line("| runs | ours p50 / p99 / p99.9 | ours Redis µs/chunk (CPU; Σ commandstats) | ours client CPU µs/chunk | ours memory/run (heap; working-set growth) | ours delivered/offered | reference p50 / p99 | reference delivered/offered | lost or out of order (ours; reference) | floor p50 / p99 | floor Redis µs/chunk (CPU; Σ commandstats) | floor client CPU µs/chunk | Redis CPU/chunk ours ÷ floor | node resumable-stream p50 / p99 | node Redis µs/chunk (CPU; Σ commandstats) | node client CPU µs/chunk | node delivered/offered |");
        Line("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var runs in results.Select(r => r.Runs).Distinct().Order())
        {
            var ours = results.LastOrDefault(r => r.Runs == runs && r.Side == CapacitySide.Ours);
            var reference = results.LastOrDefault(r => r.Runs == runs && r.Side == CapacitySide.Reference);
            var floor = results.LastOrDefault(r => r.Runs == runs && r.Side == CapacitySide.Floor);
            var floorColumns = floor is null
                ? "— | — | — | —"
                : F($"{PeerColumns(floor)} | {(ours is null ? "—" : F($"{ours.RedisCpuMicrosPerChunk / floor.RedisCpuMicrosPerChunk:0.00}×"))}");
            var node = results.LastOrDefault(r => r.Runs == runs && r.Side == CapacitySide.Node);
            var nodeColumns = node is null ? "— | — | — | —" : F($"{PeerColumns(node)} | {Delivered(node)}");
            Line(F($"| {runs:N0} | {(ours is null ? "—" : F($"{ours.Latency.Percentile(50):0.00} / {ours.Latency.Percentile(99):0.00} / {ours.Latency.Percentile(99.9):0.00} ms"))} | {(ours is null ? "—" : F($"{ours.RedisCpuMicrosPerChunk:0.00}; {ours.RedisCommandMicrosPerChunk:0.00}"))} | {(ours is null ? "—" : F($"{ours.ClientCpuMicrosPerChunk:0.00}"))} | {(ours is null ? "—" : F($"{ours.HeapBytesPerRun / 1024:0.0} KiB; {ours.WorkingSetBytesPerRun / 1024:0.0} KiB"))} | {Delivered(ours)} | {(reference is null ? "—" : F($"{reference.Latency.Percentile(50):0.0} / {reference.Latency.Percentile(99):0.0} ms"))} | {Delivered(reference)} | {Violations(ours)}; {Violations(reference)} | {floorColumns} | {nodeColumns} |"));
        }

        Line(string.Empty);
        Line(F($"capacity (largest step with p99 ≤ {settings.P99TargetMs:0} ms, no loss): ours {Capacity(CapacitySide.Ours)}, reference {Capacity(CapacitySide.Reference)}, floor {Capacity(CapacitySide.Floor)}, node {Capacity(CapacitySide.Node)}"));
        if (results.Any(r => r.Side == CapacitySide.Node))
        {
            Line(string.Empty);
            Line(NodeSideNote);
        }
        Line(string.Empty);
        Line("### Capacity: how the load was offered, and where the time went");
        Line(string.Empty);
        Line("Pacer: chunks appended of those due (runs × rate × window), how late its 1 ms slots ran, and due chunks skipped because the run's previous write was still in flight or the pacer was over 5 periods late (slots up to that late are caught up, in a burst). Redis: CPU share of one core (INFO cpu) and the busiest commands in µs per delivered chunk (INFO commandstats; `evalsha` includes the commands its script calls, which are listed again on their own).");
        Line(string.Empty);
        Line("| runs | side | measured | legs p99 (append → stored; stored → reader) | pacer | Redis CPU | Redis, busiest commands (µs/chunk) | client CPU | client GC pauses | client thread pool |");
        Line("| ---: | --- | --- | --- | --- | ---: | --- | ---: | ---: | --- |");
        foreach (var r in results.OrderBy(r => r.Runs).ThenBy(r => r.Side))
        {
            var measured = F($"{r.Measured.TotalSeconds:0.0} s") + (r.CutReason is null ? string.Empty : $" (**{r.CutReason}**)") + (r.Drained ? string.Empty : F($" (**not drained: {r.Undelivered:N0} chunks**)"));
            var pacer = F($"{100 * r.Appended / (double)Math.Max(1, r.Offered):0.0}% appended; lag p99/max {r.PacerLag.Percentile(99):0.0}/{r.PacerLag.Max:0.0} ms; skipped {r.SkippedBusy:N0} busy, {r.SkippedLate:N0} late");
            var commands = string.Join(", ", r.Commands.Take(4).Select(c => F($"{c.Name} {r.PerChunk(c.Usec):0.00}")));
            Line(F($"| {r.Runs:N0} | {r.Name} | {measured} | {(r.WriteLeg.Count == 0 ? "— (nothing stored)" : F($"{r.WriteLeg.Percentile(99):0.0}; {r.ReadLeg.Percentile(99):0.0} ms"))} | {pacer} | {100 * r.RedisCpuSeconds / r.Measured.TotalSeconds:0}% | {commands} | {100 * r.ClientCpuSeconds / r.Measured.TotalSeconds:0}% | {r.GcPause.TotalMilliseconds:0} ms ({r.Collections.Gen0 + r.Collections.Gen1 + r.Collections.Gen2} GCs) | {r.Pool} |"));
        }

        return sb.ToString();

        string Capacity(CapacitySide side)
        {
            if (!results.Any(r => r.Side == side))
            {
                return "not measured";
            }

            var capacity = AgentStreaming.Benchmarks.Capacity.CapacityOf(results, side, settings);
            var largest = results.Where(r => r.Side == side).Max(r => r.Runs);
            return capacity == 0
                ? F($"below {results.Where(r => r.Side == side).Min(r => r.Runs):N0} (no step held)")
                : F($"{capacity:N0}") + (capacity == largest ? " (the largest step measured)" : string.Empty);
        }

        string Delivered(CapacityResult? r) => r is null
            ? "—"
            : F($"{r.DeliveredPerSecond / 1000:0.0}k / {r.OfferedPerSecond / 1000:0.0}k/s ({100 * r.DeliveredShare:0.0}%)") + (r.CutReason is null ? string.Empty : F($", cut at {r.Measured.TotalSeconds:0} s"));

        static string Violations(CapacityResult? r) => r is null ? "—" : r.Violations == 0 ? "0" : F($"**{r.Violations:N0}**");

        static string PeerColumns(CapacityResult r)
            => F($"{r.Latency.Percentile(50):0.00} / {r.Latency.Percentile(99):0.00} ms{(r.Violations == 0 ? string.Empty : F($" (**{r.Violations:N0} violations**)"))} | {r.RedisCpuMicrosPerChunk:0.00}; {r.RedisCommandMicrosPerChunk:0.00} | {r.ClientCpuMicrosPerChunk:0.00}");
    }
}

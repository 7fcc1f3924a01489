using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using AgentStreaming.Benchmarks.Reference;
using AgentStreaming.Streaming.Streams;
using StackExchange.Redis;

namespace AgentStreaming.Benchmarks;

internal enum CapacitySide
{
    Ours,
    Reference,

    /// <summary>The physical reference: plain pipelined <c>XADD</c>s, no fencing, metadata, TTL or announcements; read by our reader's blocking tail.</summary>
    Floor,

    /// <summary>What Node users pick instead: Vercel's <c>resumable-stream</c> (chunks in the producer's memory, handed over by PUBLISH), in a Node process (<see cref="NodeResumableStream"/>).</summary>
    Node,
}

/// <summary>One measured step of the capacity scenario: one side, a number of concurrent runs.</summary>
internal sealed record CapacityResult(
    CapacitySide Side,
    int Runs,
    int ChunksPerSecond,
    TimeSpan Measured,
    string? CutReason,
    LatencyHistogram Latency,
    LatencyHistogram WriteLeg,
    LatencyHistogram ReadLeg,
    LatencyHistogram PacerLag,
    long Offered,
    long Appended,
    long SkippedBusy,
    long SkippedLate,
    long Delivered,
    long Entries,
    long Violations,
    IReadOnlyList<string> ViolationSamples,
    long Undelivered,
    bool Drained,
    double ClientCpuSeconds,
    double RedisCpuSeconds,
    IReadOnlyList<CommandStat> Commands,
    double HeapBytesPerRun,
    double WorkingSetBytesPerRun,
    string Pool,
    int Pacers,
    (int Gen0, int Gen1, int Gen2) Collections,
    TimeSpan GcPause)
{
    public string Name => Side.ToString().ToLowerInvariant();

    /// <summary>Chunks per second due over the window: runs × rate.</summary>
    public double OfferedPerSecond => Offered / Measured.TotalSeconds;

    public double AppendedPerSecond => Appended / Measured.TotalSeconds;

    /// <summary>Chunks per second readers received in the window.</summary>
    public double DeliveredPerSecond => Delivered / Measured.TotalSeconds;

    public double DeliveredShare => Offered == 0 ? 0 : Delivered / (double)Offered;

    public double ClientCpuMicrosPerChunk => PerChunk(ClientCpuSeconds * 1e6);

    /// <summary>redis-server CPU (INFO cpu, user + sys) per delivered chunk: commands, event loop and socket I/O.</summary>
    public double RedisCpuMicrosPerChunk => PerChunk(RedisCpuSeconds * 1e6);

    /// <summary>The sum of INFO commandstats usec over every command per delivered chunk (script-internal commands count twice).</summary>
    public double RedisCommandMicrosPerChunk => PerChunk(Commands.Sum(c => c.Usec));

    public double PerChunk(double micros) => Delivered == 0 ? double.NaN : micros / Delivered;

    /// <summary>Whether the step carried its load: p99 within the target, nothing lost or out of order, the offered rate delivered, all drained.</summary>
    public bool Holds(CapacitySettings settings)
        => CutReason is null && Violations == 0 && Drained && Undelivered == 0
           && DeliveredShare >= settings.DeliveredShareTarget && Latency.Percentile(99) <= settings.P99TargetMs;
}

/// <summary>
/// Capacity (issue 12): steps of N concurrent runs, each written at 50 chunks/s and followed by one live reader,
/// all in this process against one redis-server; per step, delivery latency (append → reader, from the Stopwatch
/// timestamp in the chunk), the delivered rate against the offered one, a per-chunk loss and order check, Redis
/// time per chunk (INFO commandstats and INFO cpu deltas), client CPU per chunk and memory per live run. Ours and the
/// original sample's algorithm alternate step by step, so both see the same machine load.
/// </summary>
internal static class Capacity
{
    private const int WarmingUp = 0;
    private const int Measuring = 1;
    private const int Finished = 2;

    public static async Task<IReadOnlyList<CapacityResult>> RunAsync(BenchContext context, CapacitySettings settings, Action<string> step)
    {
        // JIT, script load, connection pools and the heap's first growth, so the first step's figures (memory in
        // particular) are not the process warming up.
        var warmup = settings with { Measured = TimeSpan.FromSeconds(2), Warmup = TimeSpan.FromSeconds(1) };
        foreach (var side in Sides(settings))
        {
            step(F($"5. capacity warm-up, {side.ToString().ToLowerInvariant()}, 200 runs (not reported)"));
            if (side == CapacitySide.Node)
            {
                // A fresh Node process per step has nothing to warm; this installs its packages and proves the driver runs.
                await NodeResumableStream.MeasureAsync(context, warmup, 200, step).ConfigureAwait(false);
                continue;
            }

            await MeasureAsync(context, warmup, side, 200, step).ConfigureAwait(false);
        }

        var results = new List<CapacityResult>();
        foreach (var runs in settings.Steps)
        {
            foreach (var side in Sides(settings))
            {
                results.Add(await MeasureAndLogAsync(context, settings, side, runs, step).ConfigureAwait(false));
            }
        }

        if (settings.FindCapacity)
        {
            foreach (var side in Sides(settings))
            {
                await BisectAsync(context, settings, side, results, step).ConfigureAwait(false);
            }
        }

        return results;
    }

    /// <summary>The largest number of runs of a side that held (0 when none did).</summary>
    public static int CapacityOf(IEnumerable<CapacityResult> results, CapacitySide side, CapacitySettings settings)
        => results.Where(r => r.Side == side && r.Holds(settings)).Select(r => r.Runs).DefaultIfEmpty(0).Max();

    private static IEnumerable<CapacitySide> Sides(CapacitySettings settings)
    {
        if (settings.Ours)
        {
            yield return CapacitySide.Ours;
        }

        if (settings.Reference)
        {
            yield return CapacitySide.Reference;
        }

        if (settings.Floor)
        {
            yield return CapacitySide.Floor;
        }

        if (settings.Node)
        {
            yield return CapacitySide.Node;
        }
    }

    private static async Task BisectAsync(BenchContext context, CapacitySettings settings, CapacitySide side, List<CapacityResult> results, Action<string> step)
    {
        var held = CapacityOf(results, side, settings);
        var failed = results.Where(r => r.Side == side && r.Runs > held && !r.Holds(settings)).Select(r => r.Runs).DefaultIfEmpty(int.MaxValue).Min();
        if (failed == int.MaxValue)
        {
            step(F($"   {side.ToString().ToLowerInvariant()}: every step up to {held:N0} runs held; nothing to bisect"));
            return;
        }

        step(F($"5. capacity: bisecting {side.ToString().ToLowerInvariant()} between {held:N0} runs (held) and {failed:N0} (did not), to {settings.Granularity:N0} runs"));
        while (failed - held > settings.Granularity)
        {
            var middle = held + (Math.Max(1, (failed - held) / 2 / settings.Granularity) * settings.Granularity);
            if (middle >= failed)
            {
                break;
            }

            var result = await MeasureAndLogAsync(context, settings, side, middle, step).ConfigureAwait(false);
            results.Add(result);
            if (result.Holds(settings))
            {
                held = middle;
            }
            else
            {
                failed = middle;
            }
        }

        step(F($"   {side.ToString().ToLowerInvariant()}: capacity between {held:N0} (held) and {failed:N0} runs (did not)"));
    }

    private static async Task<CapacityResult> MeasureAndLogAsync(BenchContext context, CapacitySettings settings, CapacitySide side, int runs, Action<string> step)
    {
        step(F($"5. capacity: {side.ToString().ToLowerInvariant()}, {runs:N0} runs at {settings.ChunksPerSecond} chunks/s each ({runs * settings.ChunksPerSecond:N0} chunks/s offered)"));
        if (side == CapacitySide.Node)
        {
            // A Node process of its own per step: its memory figures are its own, measured by the driver.
            var node = await NodeResumableStream.MeasureAsync(context, settings, runs, step).ConfigureAwait(false);
            step(Describe(node, settings));
            return node;
        }

        var (result, liveHeap) = await MeasureAsync(context, settings, side, runs, step).ConfigureAwait(false);
        // The heap held by the live runs: against the same process once the step is gone (its objects unreachable
        // now that MeasureAsync returned), so buffers pooled by earlier steps and trimmed later do not count.
        result = result with { HeapBytesPerRun = (liveHeap - Memory().Heap) / (double)runs };
        step(Describe(result, settings));
        return result;
    }

    /// <returns>The step (its <see cref="CapacityResult.HeapBytesPerRun"/> still NaN) and the managed heap after a full GC with every run live.</returns>
    private static async Task<(CapacityResult Result, long LiveHeap)> MeasureAsync(BenchContext context, CapacitySettings settings, CapacitySide side, int runs, Action<string> step)
    {
        var period = TimeSpan.FromSeconds(1.0 / settings.ChunksPerSecond);
        var ids = BenchContext.NewIds(runs);
        var state = new StepState(step);
        var readers = new RunReader[runs];
        for (var i = 0; i < runs; i++)
        {
            readers[i] = new RunReader();
        }

        // The working set before anything of the step exists; measured again, with the heap, after a full GC with every run live.
        var before = Memory();
        RedisStreamResponseHandler? handler = null;
        using var stopReading = new CancellationTokenSource();
        CapacityWriters writers;
        Task[] reading;
        if (side == CapacitySide.Ours)
        {
            handler = context.NewHandler();
            var ours = new OursWriters([.. ids.Select(id => handler.CreateWriter(id, attempt: 1))], state);
            writers = ours;
            // Claim every stream first so readers find it (the meta hash exists) and wait live.
            await Task.WhenAll(ours.Writers.Select(w => w.BeginAsync())).ConfigureAwait(false);
            reading = [.. Enumerable.Range(0, runs).Select(i => Task.Run(() => ReadOursAsync(handler, ids[i], i, readers[i], state, stopReading.Token)))];
            var waitStarted = Stopwatch.GetTimestamp();
            while (handler.LiveReaderCount < runs)
            {
                if (Stopwatch.GetElapsedTime(waitStarted) > TimeSpan.FromSeconds(120))
                {
                    throw new TimeoutException($"Only {handler.LiveReaderCount} of {runs} readers went live.");
                }

                await Task.Delay(10).ConfigureAwait(false);
            }
        }
        else if (side == CapacitySide.Floor)
        {
            // Readers first, live on the blocking tail (the floor's writer announces nothing): they wait for the keys.
            handler = context.NewHandler(Streaming.Options.LiveReadMode.BlockingRead);
            writers = new FloorWriters(context, ids, state);
            reading = [.. Enumerable.Range(0, runs).Select(i => Task.Run(() => ReadOursAsync(handler, ids[i], i, readers[i], state, stopReading.Token)))];
        }
        else
        {
            writers = new ReferenceWriters(context, ids, state);
            // The sample's reader polls a stream that does not exist yet like an empty one (XREAD, then 1 s sleep).
            reading = [.. Enumerable.Range(0, runs).Select(i => Task.Run(() => ReadReferenceAsync(context, ids[i], i, readers[i], state, stopReading.Token)))];
        }

        // Pacers: one thread per core, each offering one chunk per period to its slice of the runs, staggered by a fraction of a slot.
        var lag = new LatencyHistogram();
        var start = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 100);
        var pacers = Enumerable.Range(0, settings.Pacers).Select(p => new CapacityPacer(
            [.. Enumerable.Range(0, runs).Where(r => r % settings.Pacers == p)], period,
            start + (Stopwatch.Frequency / 1000 * p / settings.Pacers), writers, lag, () => state.Phase == Measuring)).ToArray();
        using var stopPacing = new CancellationTokenSource();
        var pacing = pacers.Select((p, i) => p.StartAsync(F($"capacity pacer {i}"), stopPacing.Token)).ToArray();

        await Task.Delay(settings.Warmup).ConfigureAwait(false);

        var commandsBefore = await CpuMeter.ReadCommandStatsAsync(context.Admin).ConfigureAwait(false);
        var redisBefore = await CpuMeter.RedisCpuSecondsAsync(context.Admin).ConfigureAwait(false);
        await using var probe = new PoolProbe();
        var clientBefore = ClientCpuSeconds();
        var gcBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
        var windowStart = Stopwatch.GetTimestamp();
        state.Phase = Measuring;
        string? cut = null;
        while (true)
        {
            var remaining = settings.Measured - Stopwatch.GetElapsedTime(windowStart);
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            await Task.Delay(remaining < TimeSpan.FromSeconds(1) ? remaining : TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            var elapsed = Stopwatch.GetElapsedTime(windowStart);
            if (elapsed < settings.MinimumMeasured || elapsed >= settings.Measured)
            {
                continue;
            }

            // A side that cannot keep up is cut early rather than left to build a backlog for the rest of the window.
            var delivered = readers.Sum(r => Volatile.Read(ref r.InWindow));
            var due = runs * settings.ChunksPerSecond * elapsed.TotalSeconds;
            var p50 = state.Latency.Percentile(50);
            if (delivered < due * settings.HopelessShare)
            {
                cut = F($"cut after {elapsed.TotalSeconds:0} s: delivered {100 * delivered / due:0}% of the chunks due");
            }
            else if (p50 > settings.HopelessLatency.TotalMilliseconds)
            {
                cut = F($"cut after {elapsed.TotalSeconds:0} s: delivery p50 {p50 / 1000:0.0} s");
            }

            if (cut is not null)
            {
                break;
            }
        }

        state.Phase = Finished;
        var measured = Stopwatch.GetElapsedTime(windowStart);
        var clientCpu = ClientCpuSeconds() - clientBefore;
        var collections = (GC.CollectionCount(0) - gcBefore.Item1, GC.CollectionCount(1) - gcBefore.Item2, GC.CollectionCount(2) - gcBefore.Item3);
        var gcPause = GC.GetTotalPauseDuration() - gcBefore.Item4;
        var pool = await probe.StopAsync().ConfigureAwait(false);
        var redisCpu = await CpuMeter.RedisCpuSecondsAsync(context.Admin).ConfigureAwait(false) - redisBefore;
        var commands = Delta(commandsBefore, await CpuMeter.ReadCommandStatsAsync(context.Admin).ConfigureAwait(false));

        // With the runs still live (pacers running, readers reading), after a full GC.
        var live = Memory();

        await stopPacing.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(pacing).ConfigureAwait(false);
        var drainStarted = Stopwatch.GetTimestamp();
        using (var drain = new CancellationTokenSource(settings.DrainTimeout))
        {
            await Task.WhenAll(Enumerable.Range(0, runs).Select(r => writers.CompleteAsync(r, drain.Token))).ConfigureAwait(false);
        }

        var allRead = Task.WhenAll(reading);
        var drainLeft = settings.DrainTimeout - Stopwatch.GetElapsedTime(drainStarted);
        var drained = await Task.WhenAny(allRead, Task.Delay(drainLeft > TimeSpan.Zero ? drainLeft : TimeSpan.Zero)).ConfigureAwait(false) == allRead
            && readers.All(r => r.Done);
        if (!allRead.IsCompleted)
        {
            await stopReading.CancelAsync().ConfigureAwait(false);
            await allRead.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }

        long undelivered = 0;
        for (var r = 0; r < runs; r++)
        {
            undelivered += Math.Max(0, writers.Written(r) - readers[r].Received);
            if (readers[r].Done && readers[r].Next != writers.Written(r))
            {
                state.Violation(r, F($"the stream ended after chunk {readers[r].Next - 1}, but {writers.Written(r)} chunks were appended"));
            }
        }

        if (handler is not null)
        {
            await handler.DisposeAsync().ConfigureAwait(false);
        }

        await context.DeleteAsync(ids).ConfigureAwait(false);

        var result = new CapacityResult(
            side, runs, settings.ChunksPerSecond, measured, cut, state.Latency, state.WriteLeg, state.ReadLeg, lag,
            pacers.Sum(p => p.Offered), pacers.Sum(p => p.Appended), pacers.Sum(p => p.SkippedBusy), pacers.Sum(p => p.SkippedLate),
            readers.Sum(r => r.InWindow), readers.Sum(r => r.EntriesInWindow), state.Violations, state.Samples, undelivered, drained,
            clientCpu, redisCpu, commands, double.NaN, (live.WorkingSet - before.WorkingSet) / (double)runs,
            pool, settings.Pacers, collections, gcPause);
        return (result, live.Heap);
    }

    private static async Task ReadOursAsync(RedisStreamResponseHandler handler, string id, int run, RunReader reader, StepState state, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var chunk in handler.ReadStreamAsync(id, null, cancellationToken))
            {
                switch (chunk.Kind)
                {
                    case StreamEntryKind.Text:
                        // Our entry ids carry the sequence, not the time: the legs split at the entry's timestamp (stamped when sent).
                        state.OnText(run, reader, chunk.Text, chunk.EntryId, chunk.Timestamp.ToUnixTimeMilliseconds());
                        break;
                    case StreamEntryKind.Done:
                        reader.Done = true;
                        return;
                    default:
                        // One attempt per run and no tool calls: anything else (reset, error…) is a fault of the stream.
                        state.Violation(run, F($"unexpected {chunk.Kind.ToWireName()} entry {chunk.EntryId} {chunk.Error}"));
                        if (chunk.IsTerminal)
                        {
                            return;
                        }

                        break;
                }
            }

            state.Violation(run, "the reader ended without the terminal entry");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            state.Violation(run, $"the reader failed: {e.GetType().Name}: {e.Message}");
        }
    }

    private static async Task ReadReferenceAsync(BenchContext context, string id, int run, RunReader reader, StepState state, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var chunk in context.ReferenceHandler.ReadStreamAsync(id, "0-0", cancellationToken))
            {
                if (chunk.Done)
                {
                    reader.Done = true;
                    return;
                }

                if (chunk.Error is not null)
                {
                    state.Violation(run, $"error entry {chunk.EntryId}: {chunk.Error}");
                    return;
                }

                state.OnText(run, reader, chunk.Text, chunk.EntryId, Clock.EntryIdMs(chunk.EntryId));
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            state.Violation(run, $"the reader failed: {e.GetType().Name}: {e.Message}");
        }
    }

    private static IReadOnlyList<CommandStat> Delta(IReadOnlyList<CommandStat> before, IReadOnlyList<CommandStat> after)
    {
        var earlier = before.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var rows = new List<CommandStat>();
        foreach (var row in after)
        {
            var (calls, usec) = earlier.TryGetValue(row.Name, out var was) ? (row.Calls - was.Calls, row.Usec - was.Usec) : (row.Calls, row.Usec);
            if (calls > 0)
            {
                rows.Add(new CommandStat(row.Name, calls, usec, usec / calls));
            }
        }

        return [.. rows.OrderByDescending(r => r.Usec)];
    }

    private static (long Heap, long WorkingSet) Memory()
    {
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        return (heap, process.WorkingSet64);
    }

    private static double ClientCpuSeconds()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime.TotalSeconds;
    }

    /// <summary>The log lines of one step.</summary>
    public static string Describe(CapacityResult r, CapacitySettings settings)
    {
        var verdict = r.Holds(settings) ? "HOLDS" : "does not hold";
        var entriesPerChunk = r.Entries / (double)Math.Max(1, r.Delivered);
        var lines = new List<string>
        {
            F($"   {r.Name}, {r.Runs:N0} runs: delivery p50 {r.Latency.Percentile(50):0.000} ms, p99 {r.Latency.Percentile(99):0.000} ms, p99.9 {r.Latency.Percentile(99.9):0.000} ms, max {r.Latency.Max:0.0} ms; delivered {r.DeliveredPerSecond:N0} of {r.OfferedPerSecond:N0} chunks/s offered ({100 * r.DeliveredShare:0.0}%) over {r.Measured.TotalSeconds:0.0} s, {entriesPerChunk:0.00} entries per chunk; lost or out of order: {r.Violations}; {verdict}"),
            r.WriteLeg.Count == 0
                ? "      legs: none (nothing is stored in Redis: the producer PUBLISHes each chunk to the reader's channel)"
                : F($"      legs: append → stored in Redis p50/p99 {r.WriteLeg.Percentile(50):0.0}/{r.WriteLeg.Percentile(99):0.0} ms, stored → reader p50/p99 {r.ReadLeg.Percentile(50):0.0}/{r.ReadLeg.Percentile(99):0.0} ms (±1 ms: entry-id clock)"),
            F($"      pacer ({r.Pacers} loops): appended {r.AppendedPerSecond:N0} of {r.OfferedPerSecond:N0} chunks/s due ({100 * r.Appended / (double)Math.Max(1, r.Offered):0.0}%); slot lag p50/p99/max {r.PacerLag.Percentile(50):0.00}/{r.PacerLag.Percentile(99):0.00}/{r.PacerLag.Max:0.0} ms; skipped {r.SkippedBusy:N0} (run's previous write in flight), {r.SkippedLate:N0} (pacer over {CapacityPacer.CatchUpPeriods} periods late)"),
            F($"      redis: CPU {100 * r.RedisCpuSeconds / r.Measured.TotalSeconds:0}% of a core = {r.RedisCpuMicrosPerChunk:0.00} us/chunk; commandstats Σ {r.RedisCommandMicrosPerChunk:0.00} us/chunk: ")
                + string.Join(", ", r.Commands.Take(6).Select(c => F($"{c.Name} {r.PerChunk(c.Usec):0.00} us/chunk ({c.Calls / (double)Math.Max(1, r.Delivered):0.000} calls/chunk × {c.PerCall:0.0} us)"))),
            F($"      client: CPU {100 * r.ClientCpuSeconds / r.Measured.TotalSeconds:0}% of a core = {r.ClientCpuMicrosPerChunk:0.00} us/chunk; memory per live run {r.HeapBytesPerRun / 1024:0.0} KiB managed heap (live − after the step), {r.WorkingSetBytesPerRun / 1024:0.0} KiB working-set growth (live − before the step); GC {r.Collections.Gen0}/{r.Collections.Gen1}/{r.Collections.Gen2} collections (gen 0/1/2), paused {r.GcPause.TotalMilliseconds:0} ms ({100 * r.GcPause / r.Measured:0.0}% of the window); {r.Pool}"),
        };
        if (r.CutReason is not null)
        {
            lines.Add($"      !!! measured window {r.CutReason}: this side fell hopelessly behind");
        }

        if (!r.Drained || r.Undelivered > 0)
        {
            lines.Add(F($"      !!! not drained within {settings.DrainTimeout.TotalSeconds:0} s after the writers stopped: {r.Undelivered:N0} appended chunks never reached their reader (loss is unconfirmed for these)"));
        }

        if (r.Violations > 0)
        {
            lines.Add(F($"      !!! LOSS OR ORDER VIOLATIONS: {r.Violations:N0}; first: ") + string.Join(" | ", r.ViolationSamples));
        }

        return string.Join('\n', lines);
    }

    private static string F(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>What one reader has seen. Written by the reader's task only; summed by the scenario.</summary>
    private sealed class RunReader
    {
        public long Next;
        public long Received;
        public long InWindow;
        public long EntriesInWindow;
        public bool Done;
    }

    /// <summary>The shared state of a step: the phase, the histograms and the violations.</summary>
    private sealed class StepState(Action<string> log)
    {
        private const int MaxSamples = 10;
        private readonly ConcurrentQueue<string> _samples = new();
        private long _violations;
        private volatile int _phase = WarmingUp;

        public int Phase
        {
            get => _phase;
            set => _phase = value;
        }

        public LatencyHistogram Latency { get; } = new();

        // The legs are split at a millisecond stamp (the entry id's time, or our entries' timestamp), so they can be a little below 0.
        public LatencyHistogram WriteLeg { get; } = new(offsetMs: 5);

        public LatencyHistogram ReadLeg { get; } = new(offsetMs: 5);

        public long Violations => Interlocked.Read(ref _violations);

        public IReadOnlyList<string> Samples => [.. _samples];

        public void Violation(int run, string message)
        {
            var count = Interlocked.Increment(ref _violations);
            if (count <= MaxSamples)
            {
                _samples.Enqueue(F($"run {run}: {message}"));
                log(F($"      !!! violation {count}: run {run}: {message}"));
            }
        }

        /// <summary>Checks the chunks an entry carries (one, or several merged) against the run's sequence and times them.</summary>
        public void OnText(int run, RunReader reader, string text, string entryId, double storedAtMs)
        {
            var now = Stopwatch.GetTimestamp();
            if (text.Length == 0 || text.Length % Clock.CapacityChunkLength != 0)
            {
                Violation(run, F($"entry {entryId}: a text of {text.Length} characters is not whole chunks"));
                return;
            }

            var measuring = _phase == Measuring;
            var storedMs = measuring ? storedAtMs : double.NaN;
            var receivedMs = Clock.UnixMs(now);
            for (var at = 0; at < text.Length; at += Clock.CapacityChunkLength)
            {
                if (!Clock.TryParseCapacityChunk(text.AsSpan(at, Clock.CapacityChunkLength), out var written, out var sequence))
                {
                    Violation(run, F($"entry {entryId}: malformed chunk '{text.Substring(at, Clock.CapacityChunkLength)}'"));
                    continue;
                }

                if (sequence != reader.Next)
                {
                    Violation(run, sequence > reader.Next
                        ? F($"chunk {sequence} arrived next after chunk {reader.Next - 1}: {sequence - reader.Next} missing")
                        : F($"chunk {sequence} arrived after chunk {reader.Next - 1}: duplicate or out of order"));
                }

                reader.Next = Math.Max(reader.Next, sequence + 1);
                reader.Received++;
                if (measuring)
                {
                    reader.InWindow++;
                    Latency.Record(Clock.Ms(written, now));
                    if (!double.IsNaN(storedMs))
                    {
                        WriteLeg.Record(storedMs - Clock.UnixMs(written));
                        ReadLeg.Record(receivedMs - storedMs);
                    }
                }
            }

            if (measuring)
            {
                reader.EntriesInWindow++;
            }
        }
    }

    /// <summary>Per-run writing state shared by both sides: the next chunk number and the write still in flight.</summary>
    private abstract class CapacityWriters(int runs, StepState state) : ICapacityWriters
    {
        private readonly long[] _next = new long[runs];
        private readonly Task?[] _pending = new Task?[runs];
        private readonly bool[] _failed = new bool[runs];

        /// <summary>Chunks appended to the run so far.</summary>
        public long Written(int run) => _next[run];

        public bool TryAppend(int run)
        {
            if (_pending[run] is { } pending)
            {
                if (!pending.IsCompleted)
                {
                    return false;
                }

                _pending[run] = null;
                if (pending.Exception is { } failure)
                {
                    Fail(run, failure.InnerException ?? failure);
                }
            }

            if (_failed[run])
            {
                return false;
            }

            try
            {
                var append = AppendAsync(run, _next[run]);
                _next[run]++;
                if (append.IsCompletedSuccessfully)
                {
                    append.GetAwaiter().GetResult();
                }
                else
                {
                    _pending[run] = append.AsTask();
                }

                return true;
            }
            catch (Exception e)
            {
                Fail(run, e);
                return false;
            }
        }

        /// <summary>Waits for the run's last append, then writes its terminal entry; failures are violations, a timeout is not.</summary>
        public async Task CompleteAsync(int run, CancellationToken cancellationToken)
        {
            try
            {
                if (_pending[run] is { } pending)
                {
                    await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
                }

                if (!_failed[run])
                {
                    await CompleteCoreAsync(run, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Fail(run, e);
            }
        }

        protected abstract ValueTask AppendAsync(int run, long sequence);

        protected abstract Task CompleteCoreAsync(int run, CancellationToken cancellationToken);

        private void Fail(int run, Exception e)
        {
            _failed[run] = true;
            state.Violation(run, $"the writer failed: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Ours: <c>CreateWriter(runId, attempt: 1)</c>, <c>BeginAsync</c>, <c>AppendAsync(text)</c> per chunk, <c>CompleteAsync(done)</c>.</summary>
    private sealed class OursWriters(RedisAgentStreamWriter[] writers, StepState state) : CapacityWriters(writers.Length, state)
    {
        public RedisAgentStreamWriter[] Writers { get; } = writers;

        protected override ValueTask AppendAsync(int run, long sequence)
            => Writers[run].AppendAsync(AgentStreamEntry.ForText(Clock.CapacityText(sequence)));

        protected override Task CompleteCoreAsync(int run, CancellationToken cancellationToken)
            => Writers[run].CompleteAsync(AgentStreamEntry.ForDone(), cancellationToken);
    }

    /// <summary>The original sample's writer: awaited <c>XADD</c> then <c>EXPIRE</c> per chunk, so one write in flight per run.</summary>
    private sealed class ReferenceWriters(BenchContext context, string[] ids, StepState state) : CapacityWriters(ids.Length, state)
    {
        protected override ValueTask AppendAsync(int run, long sequence)
            => new(context.ReferenceHandler.WriteChunkAsync(ids[run], Clock.CapacityText(sequence), sequence));

        protected override Task CompleteCoreAsync(int run, CancellationToken cancellationToken)
            => context.ReferenceHandler.WriteDoneAsync(ids[run], Written(run)).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// The floor: one <c>XADD</c> per chunk with the sample's fields (<c>text</c>, <c>sequence</c>, <c>timestamp</c>),
    /// not awaited by the pacer, pipelined with every other run's on one connection; no fencing, no metadata hash, no
    /// TTL and no announcement. What Redis cannot do with less per chunk while keeping the entries.
    /// </summary>
    private sealed class FloorWriters(BenchContext context, string[] ids, StepState state) : CapacityWriters(ids.Length, state)
    {
        private readonly IDatabase _database = context.Reference.GetDatabase();

        protected override ValueTask AppendAsync(int run, long sequence)
            => new(_database.StreamAddAsync(OriginalSampleStreamHandler.StreamKey(ids[run]), Fields(Clock.CapacityText(sequence), sequence)));

        protected override Task CompleteCoreAsync(int run, CancellationToken cancellationToken)
            => _database.StreamAddAsync(OriginalSampleStreamHandler.StreamKey(ids[run]), [.. Fields(string.Empty, Written(run)), new("done", "true")]).WaitAsync(cancellationToken);

        private static NameValueEntry[] Fields(string text, long sequence)
            => [new("text", text), new("sequence", sequence), new("timestamp", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())];
    }
}

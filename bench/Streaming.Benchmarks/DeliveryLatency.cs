using System.Diagnostics;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Benchmarks;

internal sealed record LatencyResult(int Streams, TimeSpan Duration, LatencySummary Latency, double DeliveredPerStreamPerSecond, CpuUse Cpu, LatencySummary WriteLeg, LatencySummary ReadLeg, string Pool)
{
    public string Legs => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"append → sent to Redis p50/p99 {WriteLeg.Percentile(50):0.0}/{WriteLeg.Percentile(99):0.0} ms, sent → reader p50/p99 {ReadLeg.Percentile(50):0.0}/{ReadLeg.Percentile(99):0.0} ms (±1 ms: ms clock)");
}

/// <summary>Samples of one reader.</summary>
internal sealed class ReaderSamples(int capacity)
{
    public List<double> Latency { get; } = new(capacity);

    public List<double> WriteLeg { get; } = new(capacity);

    public List<double> ReadLeg { get; } = new(capacity);

    /// <summary>Records a delivery received now.</summary>
    /// <param name="text">The chunk's text (from <see cref="Clock.StampedText"/>).</param>
    /// <param name="sentUnixMs">When the entry went to Redis, in Unix ms: our entries' <c>timestamp</c> (the pump's flush), the reference's entry id (Redis's clock).</param>
    public void Add(string text, double sentUnixMs)
    {
        var now = Stopwatch.GetTimestamp();
        Latency.Add(Clock.LatencyOf(text, now));
        var (write, read) = Clock.Legs(text, sentUnixMs, now);
        WriteLeg.Add(write);
        ReadLeg.Add(read);
    }

    public static LatencyResult Summarize(ReaderSamples[] samples, int streams, TimeSpan duration, CpuUse cpu, string pool)
    {
        var summary = new LatencySummary(samples.SelectMany(s => s.Latency));
        return new LatencyResult(streams, duration, summary, summary.Count / (double)streams / duration.TotalSeconds, cpu,
            new LatencySummary(samples.SelectMany(s => s.WriteLeg)), new LatencySummary(samples.SelectMany(s => s.ReadLeg)), pool);
    }
}

/// <summary>
/// Scenario 2: time from the producer's append (a Stopwatch timestamp embedded in the 20-byte chunk text) until a
/// live reader of the stream receives the chunk, with every stream written at a paced rate (50 chunks/s).
/// </summary>
internal static class DeliveryLatency
{
    /// <param name="referenceWriter">Diagnostic: write with the reference writer (plain XADD + EXPIRE) and read with ours, to isolate our reader.</param>
    public static async Task<LatencyResult> OursAsync(BenchContext context, int streams, int chunksPerSecond, TimeSpan duration, bool referenceWriter = false)
    {
        // The reference writer does not announce its entries: our reader then waits on the blocking XREAD tail.
        await using var handler = context.NewHandler(referenceWriter ? LiveReadMode.BlockingRead : LiveReadMode.Announced);
        var ids = BenchContext.NewIds(streams);
        var writers = ids.Select(id => handler.CreateWriter(id)).ToArray();
        if (referenceWriter)
        {
            // Create every stream with one entry so readers find them, then read after it.
            for (var i = 0; i < streams; i++)
            {
                await context.ReferenceHandler.WriteChunkAsync(ids[i], "start", -1);
            }
        }
        else
        {
            // Claim every stream first so readers find them (the meta hash exists) and wait live.
            await Task.WhenAll(writers.Select(w => w.BeginAsync()));
        }

        var samples = new ReaderSamples[streams];
        using var cts = new CancellationTokenSource(duration + TimeSpan.FromSeconds(120));
        var readers = Enumerable.Range(0, streams).Select(i => Task.Run(async () =>
        {
            var list = samples[i] = new ReaderSamples((int)(duration.TotalSeconds * chunksPerSecond) + 16);
            await foreach (var chunk in handler.ReadStreamAsync(ids[i], null, cts.Token))
            {
                if (chunk.Kind == StreamEntryKind.Text && chunk.Sequence >= 0)
                {
                    // Entry ids carry the sequence, not a time: the entry's timestamp is when its flush went out.
                    list.Add(chunk.Text, chunk.Timestamp.ToUnixTimeMilliseconds());
                }
            }
        })).ToArray();

        // Every reader must be on the shared tail before the first chunk is written.
        var waitStarted = Stopwatch.GetTimestamp();
        while (handler.LiveReaderCount < streams)
        {
            if (Stopwatch.GetElapsedTime(waitStarted) > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"Only {handler.LiveReaderCount} of {streams} readers went live.");
            }

            await Task.Delay(10);
        }

        var meter = await CpuMeter.StartAsync(context.Admin);
        await using var probe = new PoolProbe();
        var period = TimeSpan.FromSeconds(1.0 / chunksPerSecond);
        var writing = Enumerable.Range(0, streams).Select(i => Task.Run(async () =>
        {
            if (referenceWriter)
            {
                var id = ids[i];
                long sequence = 0;
                await PacedAsync(Offset(i, streams, period), period, duration,
                    () => new ValueTask(context.ReferenceHandler.WriteChunkAsync(id, Clock.StampedText(), sequence++)));
                await context.ReferenceHandler.WriteDoneAsync(id, sequence);
                return;
            }

            var writer = writers[i];
            await PacedAsync(Offset(i, streams, period), period, duration,
                () => writer.AppendAsync(AgentStreamEntry.ForText(Clock.StampedText())));
            await writer.CompleteAsync(AgentStreamEntry.ForDone());
        })).ToArray();
        return await FinishAsync(context, ids, writing, readers, meter, probe, samples, duration);
    }

    public static async Task<LatencyResult> ReferenceAsync(BenchContext context, int streams, int chunksPerSecond, TimeSpan duration)
    {
        var handler = context.ReferenceHandler;
        var ids = BenchContext.NewIds(streams);
        var samples = new ReaderSamples[streams];
        using var cts = new CancellationTokenSource(duration + TimeSpan.FromSeconds(120));

        var meter = await CpuMeter.StartAsync(context.Admin);
        await using var probe = new PoolProbe();
        var readers = Enumerable.Range(0, streams).Select(i => Task.Run(async () =>
        {
            var list = samples[i] = new ReaderSamples((int)(duration.TotalSeconds * chunksPerSecond) + 16);
            await foreach (var chunk in handler.ReadStreamAsync(ids[i], "0-0", cts.Token))
            {
                if (!chunk.Done && chunk.Error is null)
                {
                    list.Add(chunk.Text, Clock.EntryIdMs(chunk.EntryId));
                }
            }
        })).ToArray();

        var period = TimeSpan.FromSeconds(1.0 / chunksPerSecond);
        var writing = Enumerable.Range(0, streams).Select(i => Task.Run(async () =>
        {
            var id = ids[i];
            long sequence = 0;
            await PacedAsync(Offset(i, streams, period), period, duration,
                () => new ValueTask(handler.WriteChunkAsync(id, Clock.StampedText(), sequence++)));
            await handler.WriteDoneAsync(id, sequence);
        })).ToArray();
        return await FinishAsync(context, ids, writing, readers, meter, probe, samples, duration);
    }

    /// <summary>Waits for the writers, then the readers (60 s at most), and summarizes what the readers received and what it cost.</summary>
    private static async Task<LatencyResult> FinishAsync(BenchContext context, string[] ids, Task[] writing, Task[] readers, CpuMeter meter, PoolProbe probe, ReaderSamples[] samples, TimeSpan duration)
    {
        await Task.WhenAll(writing);
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(60));
        var cpu = await meter.StopAsync();
        var pool = await probe.StopAsync();
        await context.DeleteAsync(ids);
        return ReaderSamples.Summarize(samples, ids.Length, duration, cpu, pool);
    }

    /// <summary>
    /// Diagnostic floor for one stream: plain XADD on one connection and a plain <c>XREAD BLOCK</c> loop on a
    /// connection of its own, no library code, at the same pace, to show what this machine allows.
    /// </summary>
    public static async Task<LatencyResult> RawFloorAsync(BenchContext context, string connectionString, int chunksPerSecond, TimeSpan duration)
    {
        var configuration = StackExchange.Redis.ConfigurationOptions.Parse(connectionString);
        configuration.AsyncTimeout = configuration.SyncTimeout = 30_000;
        await using var blocking = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(configuration);
        var id = BenchContext.NewIds(1)[0];
        var key = "agent-stream:" + id;
        var database = context.Reference.GetDatabase();
        var samples = new[] { new ReaderSamples((int)(duration.TotalSeconds * chunksPerSecond) + 16) };
        var reader = Task.Run(async () =>
        {
            var last = "0-0";
            var blockingDatabase = blocking.GetDatabase();
            while (true)
            {
                var reply = await blockingDatabase.ExecuteAsync("XREAD", "COUNT", 100, "BLOCK", 10_000, "STREAMS", key, last);
                if (reply.IsNull)
                {
                    continue;
                }

                var items = (StackExchange.Redis.RedisResult[])reply!;
                var entries = (StackExchange.Redis.RedisResult[])(reply.Resp3Type == StackExchange.Redis.ResultType.Map ? items[1] : ((StackExchange.Redis.RedisResult[])items[0]!)[1])!;
                foreach (var raw in entries)
                {
                    var parts = (StackExchange.Redis.RedisResult[])raw!;
                    last = parts[0].ToString();
                    var fields = (StackExchange.Redis.RedisResult[])parts[1]!;
                    var text = fields[1].ToString();
                    if (text == "done")
                    {
                        return;
                    }

                    samples[0].Add(text, Clock.EntryIdMs(last));
                }
            }
        });
        await Task.Delay(200);
        var meter = await CpuMeter.StartAsync(context.Admin);
        await using var probe = new PoolProbe();
        var period = TimeSpan.FromSeconds(1.0 / chunksPerSecond);
        await PacedAsync(TimeSpan.Zero, period, duration, async () => await database.StreamAddAsync(key, "text", Clock.StampedText()));
        await database.StreamAddAsync(key, "text", "done");
        await reader.WaitAsync(TimeSpan.FromSeconds(30));
        var cpu = await meter.StopAsync();
        var pool = await probe.StopAsync();
        await context.DeleteAsync([id]);
        return ReaderSamples.Summarize(samples, 1, duration, cpu, pool);
    }

    /// <summary>Spreads the writers' ticks evenly over one period.</summary>
    private static TimeSpan Offset(int index, int count, TimeSpan period) => period * index / count;

    /// <summary>Calls <paramref name="write"/> once per period for <paramref name="duration"/> (missed ticks are skipped, not bunched).</summary>
    private static async Task PacedAsync(TimeSpan offset, TimeSpan period, TimeSpan duration, Func<ValueTask> write)
    {
        if (offset > TimeSpan.Zero)
        {
            await Task.Delay(offset);
        }

        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        using var timer = new PeriodicTimer(period);
        do
        {
            await write();
        }
        while (await timer.WaitForNextTickAsync() && Stopwatch.GetTimestamp() < end);
    }
}

using System.Diagnostics;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Benchmarks;

internal sealed record ThroughputResult(int Streams, int ChunksPerStream, double[] ChunksPerSecond, CpuUse Cpu)
{
    /// <summary>The median over the repetitions.</summary>
    public double Median
    {
        get
        {
            var sorted = ChunksPerSecond.Order().ToArray();
            return sorted[sorted.Length / 2];
        }
    }
}

/// <summary>Scenario 1: how many ~20-byte chunks per second a producer gets into Redis.</summary>
internal static class WriteThroughput
{
    /// <summary>Ours: each stream appends N chunks, then <c>CompleteAsync(done)</c>, which flushes; timed until all are in Redis.</summary>
    public static async Task<ThroughputResult> OursAsync(BenchContext context, int streams, int chunksPerStream, int repetitions)
    {
        await using var handler = context.NewHandler();
        var rates = new double[repetitions];
        CpuMeter? meter = null;
        for (var r = 0; r < repetitions; r++)
        {
            var ids = BenchContext.NewIds(streams);
            var writers = ids.Select(id => handler.CreateWriter(id)).ToArray();
            meter ??= await CpuMeter.StartAsync(context.Admin);
            var started = Stopwatch.GetTimestamp();
            await Task.WhenAll(writers.Select(writer => Task.Run(async () =>
            {
                for (var i = 0; i < chunksPerStream; i++)
                {
                    await writer.AppendAsync(AgentStreamEntry.ForText(Clock.ChunkText(i)));
                }

                await writer.CompleteAsync(AgentStreamEntry.ForDone());
            })));
            var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
            rates[r] = (double)streams * chunksPerStream / elapsed;
            await context.DeleteAsync(ids);
        }

        return new ThroughputResult(streams, chunksPerStream, rates, await meter!.StopAsync());
    }

    /// <summary>Reference: per chunk an awaited XADD then an awaited EXPIRE, then the done entry.</summary>
    public static async Task<ThroughputResult> ReferenceAsync(BenchContext context, int streams, int chunksPerStream, int repetitions)
    {
        var handler = context.ReferenceHandler;
        var rates = new double[repetitions];
        CpuMeter? meter = null;
        for (var r = 0; r < repetitions; r++)
        {
            var ids = BenchContext.NewIds(streams);
            meter ??= await CpuMeter.StartAsync(context.Admin);
            var started = Stopwatch.GetTimestamp();
            await Task.WhenAll(ids.Select(id => Task.Run(async () =>
            {
                for (var i = 0; i < chunksPerStream; i++)
                {
                    await handler.WriteChunkAsync(id, Clock.ChunkText(i), i);
                }

                await handler.WriteDoneAsync(id, chunksPerStream);
            })));
            var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
            rates[r] = (double)streams * chunksPerStream / elapsed;
            await context.DeleteAsync(ids);
        }

        return new ThroughputResult(streams, chunksPerStream, rates, await meter!.StopAsync());
    }
}

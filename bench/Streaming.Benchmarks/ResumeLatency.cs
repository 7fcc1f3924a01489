using System.Diagnostics;
using AgentStreaming.Streaming.Streams;
using StackExchange.Redis;

namespace AgentStreaming.Benchmarks;

internal sealed record ResumeResult(LatencySummary Ours, LatencySummary Reference, int StreamLength, int Repetitions);

/// <summary>
/// Scenario 3: a reader resumes from the middle of a stream of 10,000 entries (cursor = id of entry 5,000) and the
/// time until it holds the first chunk after the cursor is measured. The stream has no terminal entry (a run
/// still in progress). Ours and the reference alternate, each on a stream its own writer wrote.
/// </summary>
internal static class ResumeLatency
{
    private const int Warmup = 20;

    public static async Task<ResumeResult> RunAsync(BenchContext context, int streamLength, int repetitions)
    {
        await using var handler = context.NewHandler();
        var oursId = RunIds.New();
        var writer = handler.CreateWriter(oursId);
        for (var i = 0; i < streamLength; i++)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText(Clock.ChunkText(i)));
        }

        await writer.FlushAsync();

        var referenceId = RunIds.New();
        var reference = context.ReferenceHandler;
        for (var i = 0; i < streamLength; i++)
        {
            await reference.WriteChunkAsync(referenceId, Clock.ChunkText(i), i);
        }

        var middle = streamLength / 2;
        var oursCursor = await EntryIdAsync(context.Admin, "agent-stream:" + oursId, middle);
        var referenceCursor = await EntryIdAsync(context.Admin, "agent-stream:" + referenceId, middle);

        var ours = new List<double>(repetitions);
        var theirs = new List<double>(repetitions);
        for (var r = 0; r < Warmup + repetitions; r++)
        {
            // Ours: ReadStreamAsync(runId, cursor) → first MoveNextAsync.
            var oursElapsed = await FirstEntryAsync(handler.ReadStreamAsync(oursId, oursCursor), static c => c.Sequence, "Our reader", middle);

            // Reference: XREAD COUNT 100 STREAMS key cursor → first entry.
            var referenceElapsed = await FirstEntryAsync(reference.ReadStreamAsync(referenceId, referenceCursor), static c => c.Sequence, "The reference reader", middle);
            if (r >= Warmup)
            {
                ours.Add(oursElapsed);
                theirs.Add(referenceElapsed);
            }
        }

        await context.DeleteAsync([oursId, referenceId]);
        return new ResumeResult(new LatencySummary(ours), new LatencySummary(theirs), streamLength, repetitions);
    }

    /// <summary>Opens <paramref name="stream"/> and measures the milliseconds until it holds its first entry, which must be <paramref name="expected"/>.</summary>
    private static async Task<double> FirstEntryAsync<T>(IAsyncEnumerable<T> stream, Func<T, long> sequence, string reader, int expected)
    {
        var started = Stopwatch.GetTimestamp();
        var enumerator = stream.GetAsyncEnumerator();
        try
        {
            if (!await enumerator.MoveNextAsync())
            {
                throw new InvalidOperationException($"{reader} returned nothing.");
            }

            var elapsed = Clock.Ms(started, Stopwatch.GetTimestamp());
            if (sequence(enumerator.Current) != expected)
            {
                throw new InvalidOperationException($"{reader} resumed at sequence {sequence(enumerator.Current)}, expected {expected}.");
            }

            return elapsed;
        }
        finally
        {
            await enumerator.DisposeAsync();
        }
    }

    /// <summary>The id of the <paramref name="position"/>-th entry (1-based).</summary>
    private static async Task<string> EntryIdAsync(IDatabase database, RedisKey key, int position)
    {
        var entries = await database.StreamRangeAsync(key, "-", "+", position);
        if (entries.Length < position)
        {
            throw new InvalidOperationException($"{key} holds {entries.Length} entries, expected at least {position}.");
        }

        return entries[position - 1].Id.ToString();
    }
}

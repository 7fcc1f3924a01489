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
            var started = Stopwatch.GetTimestamp();
            var enumerator = handler.ReadStreamAsync(oursId, oursCursor).GetAsyncEnumerator();
            try
            {
                if (!await enumerator.MoveNextAsync())
                {
                    throw new InvalidOperationException("Our reader returned nothing.");
                }

                var elapsed = Clock.Ms(started, Stopwatch.GetTimestamp());
                if (enumerator.Current.Sequence != middle)
                {
                    throw new InvalidOperationException($"Our reader resumed at sequence {enumerator.Current.Sequence}, expected {middle}.");
                }

                if (r >= Warmup)
                {
                    ours.Add(elapsed);
                }
            }
            finally
            {
                await enumerator.DisposeAsync();
            }

            // Reference: XREAD COUNT 100 STREAMS key cursor → first entry.
            started = Stopwatch.GetTimestamp();
            var referenceEnumerator = reference.ReadStreamAsync(referenceId, referenceCursor).GetAsyncEnumerator();
            try
            {
                if (!await referenceEnumerator.MoveNextAsync())
                {
                    throw new InvalidOperationException("The reference reader returned nothing.");
                }

                var elapsed = Clock.Ms(started, Stopwatch.GetTimestamp());
                if (referenceEnumerator.Current.Sequence != middle)
                {
                    throw new InvalidOperationException($"The reference reader resumed at sequence {referenceEnumerator.Current.Sequence}, expected {middle}.");
                }

                if (r >= Warmup)
                {
                    theirs.Add(elapsed);
                }
            }
            finally
            {
                await referenceEnumerator.DisposeAsync();
            }
        }

        await context.DeleteAsync([oursId, referenceId]);
        return new ResumeResult(new LatencySummary(ours), new LatencySummary(theirs), streamLength, repetitions);
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

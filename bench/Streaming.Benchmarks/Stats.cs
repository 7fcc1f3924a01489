using System.Diagnostics;
using System.Globalization;

namespace AgentStreaming.Benchmarks;

/// <summary>Percentiles (nearest rank) over latency samples in milliseconds.</summary>
internal sealed class LatencySummary
{
    private readonly double[] _sorted;

    public LatencySummary(IEnumerable<double> samples)
    {
        _sorted = [.. samples];
        Array.Sort(_sorted);
    }

    public int Count => _sorted.Length;

    public double Percentile(double p)
    {
        if (_sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(p / 100.0 * _sorted.Length);
        return _sorted[Math.Clamp(rank - 1, 0, _sorted.Length - 1)];
    }

    public double Max => _sorted.Length == 0 ? double.NaN : _sorted[^1];
}

/// <summary>
/// A lock-free latency histogram for millions of samples from many threads: 1 µs buckets below 1.024 ms, then 512
/// buckets per power of two (0.2 % resolution) up to ~12 days. Percentiles are nearest rank over the buckets.
/// </summary>
/// <param name="offsetMs">Added to every sample before it is bucketed (samples below −offset count as −offset), for legs measured against a ±1 ms clock.</param>
internal sealed class LatencyHistogram(double offsetMs = 0)
{
    private const int Linear = 1024;
    private const int SubBuckets = 512;
    private const int Octaves = 31;
    private readonly long[] _counts = new long[Linear + (Octaves * SubBuckets)];

    /// <summary>Adds one sample, in milliseconds. Thread-safe.</summary>
    public void Record(double ms) => Record(ms, 1);

    /// <summary>Adds <paramref name="count"/> samples of the same value, in milliseconds (a bucket of another histogram of this layout). Thread-safe.</summary>
    public void Record(double ms, long count)
    {
        var micros = (long)((ms + offsetMs) * 1000.0);
        Interlocked.Add(ref _counts[Index(Math.Max(micros, 0))], count);
    }

    /// <summary>Samples recorded so far (a sum over the buckets; exact once recording stopped).</summary>
    public long Count
    {
        get
        {
            long count = 0;
            foreach (var c in _counts)
            {
                count += Volatile.Read(in c);
            }

            return count;
        }
    }

    /// <summary>The nearest-rank percentile in milliseconds (a bucket's midpoint), or NaN without samples.</summary>
    /// <remarks>
    /// Allocation-free (a copy of the buckets would land on the large object heap and cost the process under test a
    /// gen 2 collection); while samples are still being recorded the answer is approximate.
    /// </remarks>
    public double Percentile(double p)
    {
        var total = Count;
        if (total == 0)
        {
            return double.NaN;
        }

        var rank = Math.Clamp((long)Math.Ceiling(p / 100.0 * total), 1, total);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += Volatile.Read(in _counts[i]);
            if (seen >= rank)
            {
                return (Midpoint(i) / 1000.0) - offsetMs;
            }
        }

        return Max;
    }

    /// <summary>The largest sample's bucket in milliseconds, or NaN without samples.</summary>
    public double Max
    {
        get
        {
            for (var i = _counts.Length - 1; i >= 0; i--)
            {
                if (Volatile.Read(in _counts[i]) > 0)
                {
                    return (Midpoint(i) / 1000.0) - offsetMs;
                }
            }

            return double.NaN;
        }
    }

    private static int Index(long micros)
    {
        if (micros < Linear)
        {
            return (int)micros;
        }

        var exponent = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)micros); // ≥ 10
        var octave = exponent - 10;
        if (octave >= Octaves)
        {
            return Linear + (Octaves * SubBuckets) - 1;
        }

        var sub = (int)(micros >> (exponent - 9)) - SubBuckets; // 0..511
        return Linear + (octave * SubBuckets) + sub;
    }

    private static double Midpoint(int index)
    {
        if (index < Linear)
        {
            return index + 0.5;
        }

        var octave = (index - Linear) / SubBuckets;
        var sub = (index - Linear) % SubBuckets;
        var width = 1L << (octave + 1);
        return ((SubBuckets + sub) * (double)width) + (width / 2.0);
    }
}

internal static class Clock
{
    /// <summary>Milliseconds between two <see cref="Stopwatch.GetTimestamp"/> values.</summary>
    public static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    /// <summary>A 20-byte chunk text carrying the current Stopwatch timestamp: 19 digits and a bar.</summary>
    public static string StampedText() => Stopwatch.GetTimestamp().ToString("D19", CultureInfo.InvariantCulture) + "|";

    /// <summary>Latency in ms from the timestamp embedded by <see cref="StampedText"/> until now.</summary>
    public static double LatencyOf(string text, long now)
    {
        var written = long.Parse(text.AsSpan(0, 19), NumberStyles.None, CultureInfo.InvariantCulture);
        return Ms(written, now);
    }

    private static readonly long s_originTimestamp = Stopwatch.GetTimestamp();
    private static readonly double s_originUnixMs = (DateTime.UtcNow - DateTime.UnixEpoch).TotalMilliseconds;

    /// <summary>A Stopwatch timestamp as Unix milliseconds (fractional), to compare with the ms part of entry ids Redis assigns.</summary>
    public static double UnixMs(long timestamp) => s_originUnixMs + Ms(s_originTimestamp, timestamp);

    /// <summary>
    /// Splits a delivery (text from <see cref="StampedText"/>, received now) at the moment the entry went to Redis
    /// (<paramref name="sentUnixMs"/>, a ms clock, so ±1 ms): the write leg (append → sent) and the read leg (sent →
    /// reader has it, Redis's round trip included).
    /// </summary>
    public static (double Write, double Read) Legs(string text, double sentUnixMs, long received)
    {
        var written = long.Parse(text.AsSpan(0, 19), NumberStyles.None, CultureInfo.InvariantCulture);
        return (sentUnixMs - UnixMs(written), UnixMs(received) - sentUnixMs);
    }

    /// <summary>A 20-byte chunk text for throughput runs.</summary>
    public static string ChunkText(int i) => "tok" + i.ToString("D17", CultureInfo.InvariantCulture);

    /// <summary>Length of a capacity chunk text (<see cref="CapacityText"/>).</summary>
    public const int CapacityChunkLength = 20;

    /// <summary>
    /// A 20-byte chunk text for the capacity scenario: 13 digits of Stopwatch ticks since this process's clock origin
    /// (the append time), 6 digits of the chunk's number within its run (for the loss and order check), and a bar.
    /// Fixed-length, so an entry that carries several adjacent chunks merged into one text is split back exactly.
    /// </summary>
    public static string CapacityText(long sequence)
    {
        // The origin first: reading it may run the type's initializer, which must not stamp a later origin than now.
        var origin = s_originTimestamp;
        return string.Create(CapacityChunkLength, (Ticks: Stopwatch.GetTimestamp() - origin, Sequence: sequence), static (span, state) => Stamp(span, state.Ticks, state.Sequence));
    }

    private static void Stamp(Span<char> span, long ticks, long sequence)
    {
        if (ticks < 0 || ticks >= 10_000_000_000_000 || sequence < 0 || sequence >= 1_000_000
            || !ticks.TryFormat(span[..13], out _, "D13", CultureInfo.InvariantCulture)
            || !sequence.TryFormat(span.Slice(13, 6), out _, "D6", CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException($"The capacity chunk stamp does not fit: {ticks} ticks since the clock origin, chunk {sequence} (13 and 6 digits).");
        }

        span[19] = '|';
    }

    /// <summary>Reads one chunk of <see cref="CapacityText"/>: its append time (a Stopwatch timestamp) and its number.</summary>
    public static bool TryParseCapacityChunk(ReadOnlySpan<char> chunk, out long timestamp, out long sequence)
    {
        timestamp = sequence = 0;
        if (chunk.Length != CapacityChunkLength || chunk[19] != '|'
            || !long.TryParse(chunk[..13], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
            || !long.TryParse(chunk.Slice(13, 6), NumberStyles.None, CultureInfo.InvariantCulture, out sequence))
        {
            return false;
        }

        timestamp = s_originTimestamp + ticks;
        return true;
    }

    /// <summary>The ms part of a Redis entry id (when Redis stored it, ±1 ms), or NaN when it is not an entry id.</summary>
    public static double EntryIdMs(string entryId)
    {
        var dash = entryId.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && double.TryParse(entryId.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? ms : double.NaN;
    }
}

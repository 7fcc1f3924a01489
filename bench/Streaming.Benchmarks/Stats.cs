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
    /// Splits a delivery (text from <see cref="StampedText"/>, received now) at the moment Redis stored the entry
    /// (the ms part of its id, so ±1 ms): the write leg (append → stored) and the read leg (stored → reader has it).
    /// </summary>
    public static (double Write, double Read) Legs(string text, string entryId, long received)
    {
        var written = long.Parse(text.AsSpan(0, 19), NumberStyles.None, CultureInfo.InvariantCulture);
        var storedMs = double.Parse(entryId.AsSpan(0, entryId.IndexOf('-', StringComparison.Ordinal)), NumberStyles.None, CultureInfo.InvariantCulture);
        return (storedMs - UnixMs(written), UnixMs(received) - storedMs);
    }

    /// <summary>A 20-byte chunk text for throughput runs.</summary>
    public static string ChunkText(int i) => "tok" + i.ToString("D17", CultureInfo.InvariantCulture);
}

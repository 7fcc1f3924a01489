using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace AgentStreaming.Streaming.Streams;

/// <summary>
/// A position in a run's stream: a Redis Stream entry id (<c>milliseconds-sequence</c>). Reading "after" a
/// cursor yields the entries whose ids are strictly greater.
/// </summary>
/// <param name="Milliseconds">The id's time part.</param>
/// <param name="Sequence">The id's sequence part.</param>
public readonly record struct StreamCursor(ulong Milliseconds, ulong Sequence) : IComparable<StreamCursor>
{
    /// <summary>The position before the first entry (<c>0-0</c>): reading after it reads the whole stream.</summary>
    public static StreamCursor Start => default;

    /// <summary>Parses an entry id such as <c>1734649123456-0</c>; <c>0</c> and <c>0-0</c> mean the start.</summary>
    /// <param name="value">The entry id.</param>
    /// <returns>The cursor.</returns>
    /// <exception cref="ArgumentException"><paramref name="value"/> is not a Redis Stream entry id.</exception>
    public static StreamCursor Parse(string value) => Parse(value, nameof(value));

    internal static StreamCursor Parse(string value, string parameterName)
    {
        if (TryParse(value, out var cursor))
        {
            return cursor;
        }

        throw new ArgumentException(
            $"'{Describe(value)}' is not a stream cursor. A cursor is the entry id of the last entry you received, " +
            "two whole numbers joined by a dash such as '1734649123456-0'; omit it to read from the start.",
            parameterName);
    }

    /// <summary>Tries to parse an entry id.</summary>
    /// <param name="value">The entry id.</param>
    /// <param name="cursor">The cursor when the id is well formed.</param>
    /// <returns><see langword="true"/> when <paramref name="value"/> is a well-formed entry id.</returns>
    public static bool TryParse([NotNullWhen(true)] string? value, out StreamCursor cursor)
    {
        cursor = default;
        if (string.IsNullOrEmpty(value) || value.Length > 41)
        {
            return false;
        }

        var span = value.AsSpan();
        var dash = span.IndexOf('-');
        var msPart = dash < 0 ? span : span[..dash];
        var seqPart = dash < 0 ? "0".AsSpan() : span[(dash + 1)..];
        if (!IsDigits(msPart) || !IsDigits(seqPart))
        {
            return false;
        }

        if (!ulong.TryParse(msPart, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            || !ulong.TryParse(seqPart, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
        {
            return false;
        }

        cursor = new StreamCursor(ms, seq);
        return true;
    }

    /// <inheritdoc />
    public int CompareTo(StreamCursor other)
    {
        var c = Milliseconds.CompareTo(other.Milliseconds);
        return c != 0 ? c : Sequence.CompareTo(other.Sequence);
    }

    /// <summary>Whether <paramref name="left"/> comes before <paramref name="right"/>.</summary>
    /// <param name="left">A cursor.</param>
    /// <param name="right">Another cursor.</param>
    /// <returns>The comparison's result.</returns>
    public static bool operator <(StreamCursor left, StreamCursor right) => left.CompareTo(right) < 0;

    /// <summary>Whether <paramref name="left"/> comes after <paramref name="right"/>.</summary>
    /// <param name="left">A cursor.</param>
    /// <param name="right">Another cursor.</param>
    /// <returns>The comparison's result.</returns>
    public static bool operator >(StreamCursor left, StreamCursor right) => left.CompareTo(right) > 0;

    /// <summary>Whether <paramref name="left"/> comes before or equals <paramref name="right"/>.</summary>
    /// <param name="left">A cursor.</param>
    /// <param name="right">Another cursor.</param>
    /// <returns>The comparison's result.</returns>
    public static bool operator <=(StreamCursor left, StreamCursor right) => left.CompareTo(right) <= 0;

    /// <summary>Whether <paramref name="left"/> comes after or equals <paramref name="right"/>.</summary>
    /// <param name="left">A cursor.</param>
    /// <param name="right">Another cursor.</param>
    /// <returns>The comparison's result.</returns>
    public static bool operator >=(StreamCursor left, StreamCursor right) => left.CompareTo(right) >= 0;

    /// <summary>The entry id, <c>milliseconds-sequence</c>.</summary>
    /// <returns>The entry id.</returns>
    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture, $"{Milliseconds}-{Sequence}");

    private static bool IsDigits(ReadOnlySpan<char> span)
    {
        if (span.IsEmpty || span.Length > 20)
        {
            return false;
        }

        foreach (var c in span)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return true;
    }

    private static string Describe(string? value)
        => value is null ? "(null)" : value.Length > 48 ? string.Concat(value.AsSpan(0, 48), "…") : value;
}

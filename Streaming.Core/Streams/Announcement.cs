using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace AgentStreaming.Streaming.Streams;

/// <summary>
/// Reads the announcement the write pump publishes once per flush (see <see cref="StreamAppender"/>):
/// a header <c>v1 timeMs origin</c> (the origin names the publishing process's pump, so its own tail, which was
/// handed the entries in memory, skips the echo), then per run a line <c>key previousLastId count attempt</c> followed by
/// <c>count</c> entries, each <c>id sequence type extraPairs textBytes</c>, the text, and its extra pairs as
/// <c>field valueBytes</c> and the value; elements are separated by newlines. A count of <c>-</c> means the entries are
/// not included; a previous id of <c>?</c> means it is unknown.
/// </summary>
internal ref struct Announcement
{
    private static readonly (byte[] Name, StreamEntryKind Kind)[] Kinds =
        [.. Enum.GetValues<StreamEntryKind>().Select(k => (Encoding.ASCII.GetBytes(k.ToWireName()), k))];

    private readonly ReadOnlySpan<byte> _data;
    private int _position;
    private DateTimeOffset _timestamp;

    public Announcement(ReadOnlySpan<byte> data) => _data = data;

    /// <summary>Reads the header; <see langword="false"/> for a message of another format.</summary>
    /// <param name="origin">The write pump that published it (<c>v1 timeMs origin</c>), or empty (the claim script's).</param>
    public bool TryReadHeader(out ReadOnlySpan<byte> origin)
    {
        origin = default;
        if (!TryReadLine(out var line) || !line.StartsWith("v1 "u8) || !Utf8Parser.TryParse(line[3..], out long milliseconds, out var used))
        {
            return false;
        }

        if (3 + used < line.Length && line[3 + used] == (byte)' ')
        {
            origin = line[(4 + used)..];
        }

        _timestamp = DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);
        return true;
    }

    /// <summary>Reads the next run's line.</summary>
    /// <param name="key">The stream key.</param>
    /// <param name="previous">The id the batch follows (empty: the stream's start; <c>?</c>: unknown).</param>
    /// <param name="count">How many entries follow, or -1 when they are not included.</param>
    /// <param name="attempt">The attempt that wrote them.</param>
    /// <returns><see langword="false"/> at the end or on a malformed line.</returns>
    public bool TryReadRun(out ReadOnlySpan<byte> key, out ReadOnlySpan<byte> previous, out int count, out int attempt)
    {
        key = previous = default;
        count = attempt = 0;
        if (!TryReadLine(out var line))
        {
            return false;
        }

        if (!Split(ref line, out key) || !Split(ref line, out previous) || !Split(ref line, out var countText))
        {
            return false;
        }

        if (countText.SequenceEqual("-"u8))
        {
            count = -1;
        }
        else if (!Utf8Parser.TryParse(countText, out count, out var used) || used != countText.Length)
        {
            return false;
        }

        return Utf8Parser.TryParse(line, out attempt, out _);
    }

    /// <summary>Reads one entry of the current run.</summary>
    /// <param name="attempt">The run's attempt (from its line).</param>
    /// <param name="chunk">The entry.</param>
    /// <returns><see langword="false"/> on a malformed entry.</returns>
    public bool TryReadEntry(int attempt, out StreamChunk chunk)
    {
        chunk = default;
        if (!TryReadLine(out var line)
            || !Split(ref line, out var id)
            || !Split(ref line, out var sequenceText) || !Utf8Parser.TryParse(sequenceText, out long sequence, out _)
            || !Split(ref line, out var kindText) || !TryKind(kindText, out var kind)
            || !Split(ref line, out var extraText) || !Utf8Parser.TryParse(extraText, out int extras, out _)
            || !Utf8Parser.TryParse(line, out int textBytes, out _)
            || !TryReadValue(textBytes, out var text))
        {
            return false;
        }

        string? error = null;
        string? data = null;
        for (var x = 0; x < extras; x++)
        {
            if (!TryReadLine(out var fieldLine) || !Split(ref fieldLine, out var field)
                || !Utf8Parser.TryParse(fieldLine, out int valueBytes, out _) || !TryReadValue(valueBytes, out var value))
            {
                return false;
            }

            if (field.SequenceEqual("error"u8))
            {
                error = Encoding.UTF8.GetString(value);
            }
            else if (field.SequenceEqual("data"u8))
            {
                data = Encoding.UTF8.GetString(value);
            }
        }

        chunk = new StreamChunk(Encoding.ASCII.GetString(id), kind, text.IsEmpty ? string.Empty : Encoding.UTF8.GetString(text), sequence, attempt, _timestamp, error, data);
        return true;
    }

    /// <summary>Skips one entry of a run no reader here follows.</summary>
    /// <returns><see langword="false"/> on a malformed entry.</returns>
    public bool TrySkipEntry()
    {
        if (!TryReadLine(out var line))
        {
            return false;
        }

        if (!Split(ref line, out _) || !Split(ref line, out _) || !Split(ref line, out _)
            || !Split(ref line, out var extraText) || !Utf8Parser.TryParse(extraText, out int extras, out _)
            || !Utf8Parser.TryParse(line, out int textBytes, out _) || !TryReadValue(textBytes, out _))
        {
            return false;
        }

        for (var x = 0; x < extras; x++)
        {
            if (!TryReadLine(out var fieldLine) || !Split(ref fieldLine, out _)
                || !Utf8Parser.TryParse(fieldLine, out int valueBytes, out _) || !TryReadValue(valueBytes, out _))
            {
                return false;
            }
        }

        return true;
    }

    private static bool TryKind(ReadOnlySpan<byte> name, out StreamEntryKind kind)
    {
        foreach (var (bytes, value) in Kinds)
        {
            if (name.SequenceEqual(bytes))
            {
                kind = value;
                return true;
            }
        }

        kind = default;
        return false;
    }

    private static bool Split(scoped ref ReadOnlySpan<byte> line, out ReadOnlySpan<byte> part)
    {
        var space = line.IndexOf((byte)' ');
        if (space < 0)
        {
            part = default;
            return false;
        }

        part = line[..space];
        line = line[(space + 1)..];
        return true;
    }

    private bool TryReadLine(out ReadOnlySpan<byte> line)
    {
        if (_position >= _data.Length)
        {
            line = default;
            return false;
        }

        var rest = _data[_position..];
        var end = rest.IndexOf((byte)'\n');
        if (end < 0)
        {
            line = rest;
            _position = _data.Length;
        }
        else
        {
            line = rest[..end];
            _position += end + 1;
        }

        return true;
    }

    /// <summary>Reads <paramref name="length"/> bytes and the separator after them (none at the end).</summary>
    private bool TryReadValue(int length, out ReadOnlySpan<byte> value)
    {
        if (length < 0 || _position + length > _data.Length)
        {
            value = default;
            return false;
        }

        value = _data.Slice(_position, length);
        _position += length;
        if (_position < _data.Length)
        {
            if (_data[_position] != (byte)'\n')
            {
                return false;
            }

            _position++;
        }

        return true;
    }
}

/// <summary>
/// Writes an <see cref="Announcement"/> as UTF-8 straight into a reusable buffer (no string built first); the write pump
/// keeps one per flush in flight.
/// </summary>
internal sealed class AnnouncementWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);

    public AnnouncementWriter Append(char ascii)
    {
        _buffer.GetSpan(1)[0] = (byte)ascii;
        _buffer.Advance(1);
        return this;
    }

    public AnnouncementWriter Append(long value)
    {
        Utf8Formatter.TryFormat(value, _buffer.GetSpan(20), out var written);
        _buffer.Advance(written);
        return this;
    }

    public AnnouncementWriter Append(string text)
    {
        var written = Encoding.UTF8.GetBytes(text, _buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length)));
        _buffer.Advance(written);
        return this;
    }

    /// <summary>A value as the format carries it: its length in UTF-8 bytes, a newline, then the value.</summary>
    public AnnouncementWriter AppendValue(string value) => Append(Encoding.UTF8.GetByteCount(value)).Append('\n').Append(value);

    /// <summary>The message written so far.</summary>
    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    /// <summary>Empties the buffer for the next message.</summary>
    public void Clear() => _buffer.ResetWrittenCount();
}

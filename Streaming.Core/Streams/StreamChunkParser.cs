using System.Globalization;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams;

/// <summary>Turns raw Redis Stream entries into <see cref="StreamChunk"/>s, including entries of the original sample (no <c>type</c>).</summary>
internal static class StreamChunkParser
{
    public static StreamChunk Parse(in StackExchange.Redis.StreamEntry entry)
    {
        var fields = new Fields();
        foreach (var value in entry.Values)
        {
            fields.Set(value.Name.ToString(), value.Value);
        }

        return fields.ToChunk(entry.Id.ToString());
    }

    /// <summary>Parses one entry of an XREAD reply: <c>[id, [field, value, …]]</c>.</summary>
    public static StreamChunk Parse(RedisResult entry)
    {
        var parts = (RedisResult[])entry!;
        var id = parts[0].ToString();
        var fields = new Fields();
        if (parts.Length > 1 && !parts[1].IsNull)
        {
            var pairs = (RedisResult[])parts[1]!;
            for (var i = 0; i + 1 < pairs.Length; i += 2)
            {
                fields.Set(pairs[i].ToString(), (RedisValue)pairs[i + 1]);
            }
        }

        return fields.ToChunk(id);
    }

    private struct Fields
    {
        private string? _text;
        private string? _type;
        private string? _error;
        private string? _data;
        private bool _done;
        private long _sequence;
        private long _timestamp;
        private int _attempt;

        public void Set(string name, RedisValue value)
        {
            switch (name)
            {
                case StreamFields.Text: _text = value; break;
                case StreamFields.Type: _type = value; break;
                case StreamFields.Error: _error = value; break;
                case StreamFields.Data: _data = value; break;
                case StreamFields.Done: _done = string.Equals((string?)value, "true", StringComparison.OrdinalIgnoreCase); break;
                case StreamFields.Sequence: _sequence = ParseLong(value); break;
                case StreamFields.Timestamp: _timestamp = ParseLong(value); break;
                case StreamFields.Attempt: _attempt = (int)ParseLong(value); break;
                default: break;
            }
        }

        public readonly StreamChunk ToChunk(string id)
        {
            if (!StreamEntryKinds.TryParse(_type, out var kind))
            {
                // Entries without a (known) type come from the original sample's writer: derive the kind as its reader does.
                kind = _done ? StreamEntryKind.Done : _error is not null ? StreamEntryKind.Error : StreamEntryKind.Text;
            }

            var timestamp = _timestamp > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(_timestamp) : default;
            return new StreamChunk(id, kind, _text ?? string.Empty, _sequence, _attempt > 0 ? _attempt : 1, timestamp, _error, _data);
        }

        private static long ParseLong(RedisValue value)
            => long.TryParse((string?)value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
    }
}

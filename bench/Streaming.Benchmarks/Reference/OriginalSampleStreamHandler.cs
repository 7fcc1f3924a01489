using System.Globalization;
using System.Runtime.CompilerServices;
using StackExchange.Redis;

namespace AgentStreaming.Benchmarks.Reference;

/// <summary>
/// The original sample's Redis Stream algorithm, re-implemented as the baseline: the writer sends, per chunk,
/// <c>XADD agent-stream:{id} * text … sequence … timestamp …</c> and then <c>EXPIRE</c>, each awaited (two round
/// trips per chunk); the reader polls with a non-blocking <c>XREAD COUNT 100 STREAMS key lastId</c> and sleeps
/// one second whenever a poll comes back empty. It stops at an entry with a <c>done</c> or <c>error</c> field.
/// </summary>
internal sealed class OriginalSampleStreamHandler(IConnectionMultiplexer multiplexer, TimeSpan ttl)
{
    public const string KeyPrefix = "agent-stream:";

    private readonly IDatabase _database = multiplexer.GetDatabase();

    public static RedisKey StreamKey(string conversationId) => KeyPrefix + conversationId;

    /// <summary>One chunk: awaited XADD, then awaited EXPIRE (as the sample's <c>WriteChunkAsync</c>).</summary>
    public async Task WriteChunkAsync(string conversationId, string text, long sequence)
    {
        var key = StreamKey(conversationId);
        NameValueEntry[] fields =
        [
            new("text", text),
            new("sequence", sequence),
            new("timestamp", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
        ];
        await _database.StreamAddAsync(key, fields).ConfigureAwait(false);
        await _database.KeyExpireAsync(key, ttl).ConfigureAwait(false);
    }

    /// <summary>The end marker: an entry with <c>done = true</c>, then EXPIRE.</summary>
    public async Task WriteDoneAsync(string conversationId, long sequence)
    {
        var key = StreamKey(conversationId);
        NameValueEntry[] fields =
        [
            new("text", string.Empty),
            new("sequence", sequence),
            new("timestamp", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
            new("done", "true"),
        ];
        await _database.StreamAddAsync(key, fields).ConfigureAwait(false);
        await _database.KeyExpireAsync(key, ttl).ConfigureAwait(false);
    }

    /// <summary>Polls the stream after <paramref name="lastId"/> ("0-0" = from the start) until done/error.</summary>
    public async IAsyncEnumerable<ReferenceChunk> ReadStreamAsync(
        string conversationId,
        string lastId = "0-0",
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var key = StreamKey(conversationId);
        RedisValue position = lastId;
        while (!cancellationToken.IsCancellationRequested)
        {
            // XREAD COUNT 100 STREAMS key lastId (no BLOCK).
            var entries = await _database.StreamReadAsync(key, position, 100).ConfigureAwait(false);
            if (entries.Length == 0)
            {
                await Task.Delay(1000, cancellationToken).ConfigureAwait(false);
                continue;
            }

            foreach (var entry in entries)
            {
                position = entry.Id;
                var chunk = ReferenceChunk.From(entry);
                yield return chunk;
                if (chunk.Done || chunk.Error is not null)
                {
                    yield break;
                }
            }
        }
    }
}

/// <summary>An entry as the original sample's reader sees it.</summary>
internal readonly record struct ReferenceChunk(string EntryId, string Text, long Sequence, long Timestamp, bool Done, string? Error)
{
    public static ReferenceChunk From(StreamEntry entry)
    {
        string text = string.Empty;
        string? error = null;
        long sequence = 0, timestamp = 0;
        var done = false;
        foreach (var field in entry.Values)
        {
            switch ((string?)field.Name)
            {
                case "text": text = (string?)field.Value ?? string.Empty; break;
                case "sequence": sequence = long.Parse((string)field.Value!, CultureInfo.InvariantCulture); break;
                case "timestamp": timestamp = long.Parse((string)field.Value!, CultureInfo.InvariantCulture); break;
                case "done": done = (string?)field.Value == "true"; break;
                case "error": error = field.Value; break;
                default: break;
            }
        }

        return new ReferenceChunk(entry.Id.ToString(), text, sequence, timestamp, done, error);
    }
}

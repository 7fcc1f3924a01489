using System.Globalization;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Writing;

/// <summary>
/// Encodes one writer's batches into the arguments of the append script (<see cref="RedisStreamScripts.Append"/>):
/// ttlMs, attempt, n, writerId, batchIndex, metaExtraTtlMs, notifyChannel, then per entry its type, text, the count of
/// its extra field/value pairs and those pairs (<c>done</c>, <c>error</c>, <c>data</c>, <c>traceparent</c>).
/// </summary>
/// <remarks>
/// One per writer: it holds the writer's id and numbers its batches (a re-send reuses the encoded arguments, so the
/// script recognises it). Each batch costs one argument array sized up front, nothing else.
/// </remarks>
internal sealed class StreamEntryEncoder
{
    private readonly string _ttlMilliseconds;
    private readonly int _attempt;
    private readonly string _writerId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
    private readonly string _metaExtraMilliseconds;
    private readonly string _notifyChannel;
    private string? _traceParent;
    private long _batchIndex;

    /// <param name="attempt">The 1-based attempt the entries are written as.</param>
    /// <param name="traceParent">W3C <c>traceparent</c>, carried by the attempt's first entry.</param>
    /// <param name="ttl">The stream's time to live after each write.</param>
    /// <param name="metaExtra">How much longer the metadata outlives the stream.</param>
    /// <param name="notifyChannel">The run's sharded channel on Redis Cluster, else <see langword="null"/>.</param>
    public StreamEntryEncoder(int attempt, string? traceParent, TimeSpan ttl, TimeSpan metaExtra, string? notifyChannel)
    {
        _attempt = attempt;
        _traceParent = string.IsNullOrEmpty(traceParent) ? null : traceParent;
        _ttlMilliseconds = ((long)ttl.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        _metaExtraMilliseconds = ((long)metaExtra.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        _notifyChannel = notifyChannel ?? string.Empty;
    }

    /// <summary>The 1-based index of the last batch encoded (1 is the attempt's claim).</summary>
    public long BatchIndex => _batchIndex;

    /// <summary>Encodes the next batch (an empty batch is the claim) and numbers it.</summary>
    /// <param name="batch">The entries, in order.</param>
    /// <returns>The script's arguments for this writer's run.</returns>
    public RedisValue[] Encode(List<AgentStreamEntry> batch)
    {
        // Sized up front: the arguments go to Redis as they are, with no list to grow and copy per batch.
        var count = batch.Count;
        var length = 7;
        var traceParent = _traceParent;
        for (var i = 0; i < count; i++)
        {
            length += 3 + (2 * ExtraPairs(batch[i], i == 0 && traceParent is not null));
        }

        var values = new RedisValue[length];
        values[0] = _ttlMilliseconds;
        values[1] = _attempt;
        values[2] = count;
        values[3] = _writerId;
        values[4] = ++_batchIndex;
        values[5] = _metaExtraMilliseconds;
        values[6] = _notifyChannel;
        var p = 7;
        for (var i = 0; i < count; i++)
        {
            var entry = batch[i];
            values[p++] = entry.Kind.ToWireName();
            values[p++] = entry.Text ?? string.Empty;
            values[p++] = ExtraPairs(entry, i == 0 && traceParent is not null);
            switch (entry.Kind)
            {
                case StreamEntryKind.Done:
                    values[p++] = StreamFields.Done;
                    values[p++] = "true";
                    break;
                case StreamEntryKind.Error or StreamEntryKind.Cancelled:
                    values[p++] = StreamFields.Error;
                    values[p++] = string.IsNullOrEmpty(entry.Error) ? (entry.Kind == StreamEntryKind.Error ? "The run failed." : "The run was cancelled.") : entry.Error;
                    break;
            }

            if (entry.Data is { Length: > 0 } data)
            {
                values[p++] = StreamFields.Data;
                values[p++] = data;
            }

            if (i == 0 && traceParent is not null)
            {
                values[p++] = StreamFields.TraceParent;
                values[p++] = traceParent;
            }
        }

        if (count > 0)
        {
            // Carried by the attempt's first entry; a claim without entries leaves it for the next batch.
            _traceParent = null;
        }

        return values;
    }

    /// <summary>The field/value pairs an entry carries besides the common fields (see <see cref="Encode"/>).</summary>
    private static int ExtraPairs(AgentStreamEntry entry, bool traceParent)
        => (entry.Kind is StreamEntryKind.Done or StreamEntryKind.Error or StreamEntryKind.Cancelled ? 1 : 0)
            + (entry.Data is { Length: > 0 } ? 1 : 0)
            + (traceParent ? 1 : 0);
}

using System.Globalization;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Writing;

/// <summary>
/// Encodes one writer's entries into <c>XADD</c> commands (<see cref="AppendBatch"/>): <c>XADD key NOMKSTREAM
/// &lt;sequence&gt;-0 text … sequence … timestamp … type … attempt …</c>, then the entry's extra field/value pairs
/// (<c>done</c>, <c>error</c>, <c>data</c>, <c>traceparent</c>). The fields are a superset of the original sample's.
/// </summary>
/// <remarks>One per writer; each entry costs one argument array sized up front, nothing else.</remarks>
internal sealed class StreamEntryEncoder
{
    private const int CommonArguments = 13;

    private readonly RedisKey _stream;
    private readonly string _attempt;
    private string? _traceParent;

    /// <param name="stream">The run's stream key.</param>
    /// <param name="attempt">The 1-based attempt the entries are written as.</param>
    /// <param name="traceParent">W3C <c>traceparent</c>, carried by the attempt's first entry.</param>
    public StreamEntryEncoder(RedisKey stream, int attempt, string? traceParent)
    {
        _stream = stream;
        _attempt = attempt.ToString(CultureInfo.InvariantCulture);
        _traceParent = string.IsNullOrEmpty(traceParent) ? null : traceParent;
    }

    /// <summary>The attempt as the entries carry it.</summary>
    public string Attempt => _attempt;

    /// <summary>Encodes entries that take the sequences from <paramref name="firstSequence"/> on.</summary>
    /// <param name="batch">The entries, in order.</param>
    /// <param name="firstSequence">The first entry's sequence (its id is <c>&lt;sequence&gt;-0</c>).</param>
    /// <returns>One <c>XADD</c>'s arguments per entry (the timestamp is stamped when sent).</returns>
    public object[][] Encode(List<AgentStreamEntry> batch, long firstSequence)
    {
        var commands = new object[batch.Count][];
        for (var i = 0; i < batch.Count; i++)
        {
            var entry = batch[i];
            var sequence = firstSequence + i;
            var traceParent = i == 0 ? _traceParent : null;
            var values = new object[CommonArguments + (2 * ExtraPairs(entry, traceParent is not null))];
            values[0] = _stream;
            values[1] = "NOMKSTREAM";
            values[2] = EntryIds.Of(sequence);
            values[3] = StreamFields.Text;
            values[4] = entry.Text ?? string.Empty;
            values[5] = StreamFields.Sequence;
            values[6] = sequence;
            values[7] = StreamFields.Timestamp;
            values[8] = 0L;
            values[9] = StreamFields.Type;
            values[10] = entry.Kind.ToWireName();
            values[11] = StreamFields.Attempt;
            values[12] = _attempt;
            var p = CommonArguments;
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

            if (traceParent is not null)
            {
                values[p++] = StreamFields.TraceParent;
                values[p] = traceParent;
            }

            commands[i] = values;
        }

        if (batch.Count > 0)
        {
            // Carried by the attempt's first entry only.
            _traceParent = null;
        }

        return commands;
    }

    /// <summary>The field/value pairs an entry carries besides the common fields (see <see cref="Encode"/>).</summary>
    private static int ExtraPairs(AgentStreamEntry entry, bool traceParent)
        => (entry.Kind is StreamEntryKind.Done or StreamEntryKind.Error or StreamEntryKind.Cancelled ? 1 : 0)
            + (entry.Data is { Length: > 0 } ? 1 : 0)
            + (traceParent ? 1 : 0);
}

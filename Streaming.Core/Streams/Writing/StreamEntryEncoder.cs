using System.Globalization;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Writing;

/// <summary>
/// Encodes one writer's entries into the fields of their <c>XADD</c>s (<see cref="AppendBatch"/>): <c>text</c>,
/// <c>sequence</c>, <c>timestamp</c>, <c>type</c>, <c>attempt</c>, then the entry's extra field/value pairs
/// (<c>done</c>, <c>error</c>, <c>data</c>, <c>traceparent</c>). The fields are a superset of the original sample's.
/// </summary>
/// <remarks>One per writer; each entry costs one field array sized up front, nothing else.</remarks>
internal sealed class StreamEntryEncoder
{
    private const int CommonFields = 5;

    private readonly string _attempt;
    private string? _traceParent;

    /// <param name="attempt">The 1-based attempt the entries are written as.</param>
    /// <param name="traceParent">W3C <c>traceparent</c>, carried by the attempt's first entry.</param>
    public StreamEntryEncoder(int attempt, string? traceParent)
    {
        _attempt = attempt.ToString(CultureInfo.InvariantCulture);
        _traceParent = string.IsNullOrEmpty(traceParent) ? null : traceParent;
    }

    /// <summary>The attempt as the entries carry it.</summary>
    public string Attempt => _attempt;

    /// <summary>Encodes entries that take the sequences from <paramref name="firstSequence"/> on.</summary>
    /// <param name="batch">The entries, in order.</param>
    /// <param name="firstSequence">The first entry's sequence (its id is <c>&lt;sequence&gt;-0</c>).</param>
    /// <returns>Each entry's fields: text, sequence, timestamp (stamped when sent), type, attempt, then its extra pairs.</returns>
    public NameValueEntry[][] Encode(List<AgentStreamEntry> batch, long firstSequence)
    {
        var encoded = new NameValueEntry[batch.Count][];
        for (var i = 0; i < batch.Count; i++)
        {
            var entry = batch[i];
            var traceParent = i == 0 ? _traceParent : null;
            var fields = new NameValueEntry[CommonFields + ExtraPairs(entry, traceParent is not null)];
            fields[0] = new(StreamFields.Text, entry.Text ?? string.Empty);
            fields[1] = new(StreamFields.Sequence, firstSequence + i);
            fields[2] = new(StreamFields.Timestamp, 0);
            fields[3] = new(StreamFields.Type, entry.Kind.ToWireName());
            fields[4] = new(StreamFields.Attempt, _attempt);
            var p = CommonFields;
            switch (entry.Kind)
            {
                case StreamEntryKind.Done:
                    fields[p++] = new(StreamFields.Done, "true");
                    break;
                case StreamEntryKind.Error or StreamEntryKind.Cancelled:
                    fields[p++] = new(StreamFields.Error, string.IsNullOrEmpty(entry.Error) ? (entry.Kind == StreamEntryKind.Error ? "The run failed." : "The run was cancelled.") : entry.Error);
                    break;
            }

            if (entry.Data is { Length: > 0 } data)
            {
                fields[p++] = new(StreamFields.Data, data);
            }

            if (traceParent is not null)
            {
                fields[p] = new(StreamFields.TraceParent, traceParent);
            }

            encoded[i] = fields;
        }

        if (batch.Count > 0)
        {
            // Carried by the attempt's first entry only.
            _traceParent = null;
        }

        return encoded;
    }

    /// <summary>The field/value pairs an entry carries besides the common fields (see <see cref="Encode"/>).</summary>
    private static int ExtraPairs(AgentStreamEntry entry, bool traceParent)
        => (entry.Kind is StreamEntryKind.Done or StreamEntryKind.Error or StreamEntryKind.Cancelled ? 1 : 0)
            + (entry.Data is { Length: > 0 } ? 1 : 0)
            + (traceParent ? 1 : 0);
}

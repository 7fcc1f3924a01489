using System.Globalization;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Writing;

/// <summary>
/// Encodes one writer's entries into the fields of their <c>XADD</c>s (<see cref="AppendBatch"/>): <c>text</c>,
/// <c>sequence</c>, <c>timestamp</c>, <c>type</c>, <c>attempt</c>, then the entry's extra field/value pairs
/// (<c>done</c>, <c>error</c>, <c>data</c>, <c>traceparent</c>). The fields are a superset of the original sample's.
/// </summary>
/// <remarks>
/// The fields are made when a batch is sent (and again if it is re-sent), in an array reused per thread and length:
/// StackExchange.Redis copies them into its command when the command is made, so an entry costs no field array.
/// </remarks>
internal sealed class StreamEntryEncoder
{
    private const int CommonFields = 5;

    /// <summary>The most extra pairs an entry carries: its terminal's, its data, the attempt's <c>traceparent</c>.</summary>
    internal const int MaxExtraPairs = 3;

    [ThreadStatic]
    private static NameValueEntry[]?[]? t_fields;

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

    /// <summary>The <c>traceparent</c> the next batch's first entry carries: the attempt's first entry only.</summary>
    public string? TakeTraceParent()
    {
        var traceParent = _traceParent;
        _traceParent = null;
        return traceParent;
    }

    /// <summary>
    /// An entry's fields: text, sequence, timestamp, type, attempt, then its extra pairs (<see cref="ExtraPairs"/>).
    /// The array is this thread's, reused by the next call: pass it to Redis at once.
    /// </summary>
    /// <param name="entry">The entry.</param>
    /// <param name="sequence">Its sequence (its id is <c>&lt;sequence&gt;-0</c>).</param>
    /// <param name="timestamp">When it is sent (Unix milliseconds).</param>
    /// <param name="attempt">The attempt, as the entries carry it.</param>
    /// <param name="traceParent">The <c>traceparent</c> it carries, if any.</param>
    public static NameValueEntry[] Fields(in AgentStreamEntry entry, long sequence, long timestamp, string attempt, string? traceParent)
    {
        var extras = new ExtraPairList();
        ExtraPairs(entry, traceParent, ref extras);
        var cache = t_fields ??= new NameValueEntry[]?[MaxExtraPairs + 1];
        var fields = cache[extras.Count] ??= new NameValueEntry[CommonFields + extras.Count];
        fields[0] = new(StreamFields.Text, entry.Text ?? string.Empty);
        fields[1] = new(StreamFields.Sequence, sequence);
        fields[2] = new(StreamFields.Timestamp, timestamp);
        fields[3] = new(StreamFields.Type, entry.Kind.ToWireName());
        fields[4] = new(StreamFields.Attempt, attempt);
        for (var x = 0; x < extras.Count; x++)
        {
            var (name, value) = extras[x];
            fields[CommonFields + x] = new(name, value);
        }

        return fields;
    }

    /// <summary>The field/value pairs an entry carries besides the common fields, in order: <c>done</c> or <c>error</c>, <c>data</c>, <c>traceparent</c>.</summary>
    public static void ExtraPairs(in AgentStreamEntry entry, string? traceParent, ref ExtraPairList pairs)
    {
        switch (entry.Kind)
        {
            case StreamEntryKind.Done:
                pairs.Add(StreamFields.Done, "true");
                break;
            case StreamEntryKind.Error or StreamEntryKind.Cancelled:
                pairs.Add(StreamFields.Error, ErrorOf(entry)!);
                break;
        }

        if (entry.Data is { Length: > 0 } data)
        {
            pairs.Add(StreamFields.Data, data);
        }

        if (traceParent is not null)
        {
            pairs.Add(StreamFields.TraceParent, traceParent);
        }
    }

    /// <summary>The <c>error</c> an entry carries: its message on <c>error</c> and <c>cancelled</c> entries (a default one when it has none), else none.</summary>
    public static string? ErrorOf(in AgentStreamEntry entry) => entry.Kind switch
    {
        StreamEntryKind.Error => string.IsNullOrEmpty(entry.Error) ? "The run failed." : entry.Error,
        StreamEntryKind.Cancelled => string.IsNullOrEmpty(entry.Error) ? "The run was cancelled." : entry.Error,
        _ => null,
    };

    /// <summary>The <c>data</c> an entry carries, if any.</summary>
    public static string? DataOf(in AgentStreamEntry entry) => entry.Data is { Length: > 0 } data ? data : null;

    /// <summary>Up to <see cref="MaxExtraPairs"/> field/value pairs, without an allocation.</summary>
    internal struct ExtraPairList
    {
        private (string, string) _first;
        private (string, string) _second;
        private (string, string) _third;

        public int Count { get; private set; }

        public readonly (string Name, string Value) this[int index] => index switch
        {
            0 => _first,
            1 => _second,
            _ => _third,
        };

        public void Add(string name, string value)
        {
            switch (Count++)
            {
                case 0: _first = (name, value); break;
                case 1: _second = (name, value); break;
                default: _third = (name, value); break;
            }
        }
    }
}

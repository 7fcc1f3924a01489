using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AgentStreaming.Streaming.Diagnostics;

/// <summary>Telemetry names of the streaming component: one <see cref="ActivitySource"/> and one <see cref="Meter"/>.</summary>
public static class StreamingDiagnostics
{
    /// <summary>The name of the component's <see cref="ActivitySource"/> and <see cref="Meter"/>.</summary>
    public const string Name = "AgentStreaming.Streaming";

    /// <summary>Counter of entries appended to run streams, unit <c>{entry}</c>, tagged with <c>agent_streaming.entry.type</c>.</summary>
    public const string EntriesWritten = "agent_streaming.stream.entries_written";

    /// <summary>Histogram of one batch write's duration, unit <c>s</c>.</summary>
    public const string WriteDuration = "agent_streaming.stream.write.duration";

    /// <summary>Counter of batches re-sent to Redis after a transient failure (connection lost, timeout, loading), unit <c>{batch}</c>.</summary>
    public const string WriteRetries = "agent_streaming.stream.write.retries";

    /// <summary>Counter of entries delivered to readers, unit <c>{entry}</c>.</summary>
    public const string EntriesDelivered = "agent_streaming.stream.entries_delivered";

    /// <summary>Up-down counter of readers currently waiting on the shared tail, unit <c>{reader}</c>.</summary>
    public const string LiveReaders = "agent_streaming.stream.live_readers";

    /// <summary>Counter of holes a reader found between two live entries and filled from Redis, unit <c>{gap}</c>.</summary>
    public const string GapsFilled = "agent_streaming.stream.gaps_filled";

    /// <summary>The tag naming an entry's type.</summary>
    public const string EntryTypeTag = "agent_streaming.entry.type";

    internal static readonly ActivitySource ActivitySource = new(Name);

    internal static readonly Meter Meter = new(Name);

    internal static readonly Counter<long> EntriesWrittenCounter =
        Meter.CreateCounter<long>(EntriesWritten, "{entry}", "Entries appended to run streams.");

    internal static readonly Histogram<double> WriteDurationHistogram =
        Meter.CreateHistogram<double>(WriteDuration, "s", "Duration of one batched append to a run stream.");

    internal static readonly Counter<long> WriteRetriesCounter =
        Meter.CreateCounter<long>(WriteRetries, "{batch}", "Batches re-sent to a run stream after a transient Redis failure.");

    internal static readonly Counter<long> EntriesDeliveredCounter =
        Meter.CreateCounter<long>(EntriesDelivered, "{entry}", "Entries delivered to stream readers.");

    internal static readonly Counter<long> GapsFilledCounter =
        Meter.CreateCounter<long>(GapsFilled, "{gap}", "Holes between delivered entries that readers filled from Redis.");

    internal static readonly UpDownCounter<long> LiveReadersCounter =
        Meter.CreateUpDownCounter<long>(LiveReaders, "{reader}", "Readers waiting for new entries on the shared tail.");
}

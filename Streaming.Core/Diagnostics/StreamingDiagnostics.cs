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

    /// <summary>Counter of Redis outages a writer rode out: its batches were re-sent until Redis stored them, unit <c>{outage}</c>.</summary>
    public const string WriteOutages = "agent_streaming.stream.write.outages";

    /// <summary>
    /// Counter of waits for replicas (<c>AgentStreaming:Redis:ReplicaAcks</c>) that timed out before enough replicas
    /// acknowledged the writes, unit <c>{wait}</c>: those writes counted as done without the replicas' word.
    /// </summary>
    public const string UnreplicatedWrites = "agent_streaming.stream.write.unreplicated";

    /// <summary>
    /// The span of a batch append that is traced: the attempt's claim (batch 1, with the <c>reset</c> entry after a
    /// crash), its terminal batch (which carries the attempt's totals: <see cref="Tags.Batches"/>,
    /// <see cref="Tags.Entries"/>, <see cref="Tags.Bytes"/>, <see cref="Tags.Resends"/>), a re-send and a failed batch.
    /// The other batches are counted, not traced.
    /// </summary>
    public const string AppendActivityName = "agent_stream append";

    /// <summary>Counter of entries delivered to readers, unit <c>{entry}</c>.</summary>
    public const string EntriesDelivered = "agent_streaming.stream.entries_delivered";

    /// <summary>Up-down counter of readers currently waiting on the shared tail, unit <c>{reader}</c>.</summary>
    public const string LiveReaders = "agent_streaming.stream.live_readers";

    /// <summary>
    /// Histogram of a reader's lag in entries, unit <c>{entry}</c>: recorded for every entry delivered, the entries newer
    /// than it that the reader already held (the rest of a catch-up page, or the live entries buffered for it). Live
    /// readers that keep up record 0.
    /// </summary>
    public const string ReaderBehind = "agent_streaming.stream.reader.behind";

    /// <summary>
    /// Histogram of a reader's lag in time, unit <c>s</c>: recorded for every entry delivered, how much older it is than
    /// the newest entry the reader knows of (live: than now, so the time from the entry's write to its delivery).
    /// </summary>
    public const string ReaderLag = "agent_streaming.stream.reader.lag";

    /// <summary>
    /// Histogram of a resume's latency, unit <c>s</c>: from a read with a cursor to its first entry (or to finding that
    /// nothing was stored after the cursor).
    /// </summary>
    public const string ResumeDuration = "agent_streaming.stream.resume.duration";

    /// <summary>Counter of holes a reader found between two live entries and filled from Redis, unit <c>{gap}</c>.</summary>
    public const string GapsFilled = "agent_streaming.stream.gaps_filled";

    /// <summary>The tag naming an entry's type.</summary>
    public const string EntryTypeTag = "agent_streaming.entry.type";

    /// <summary>Span attribute names.</summary>
    public static class Tags
    {
        /// <summary>The run id.</summary>
        public const string RunId = "agent_streaming.run.id";

        /// <summary>The 1-based attempt.</summary>
        public const string Attempt = "agent_streaming.run.attempt";

        /// <summary>The writer's 1-based batch index (1 is the claim).</summary>
        public const string BatchIndex = "agent_streaming.batch.index";

        /// <summary>The entries in the batch.</summary>
        public const string BatchSize = "agent_streaming.batch.size";

        /// <summary>Set on a re-send after a transient Redis failure.</summary>
        public const string BatchRetry = "agent_streaming.batch.retry";

        /// <summary>On the terminal batch: the attempt's batches stored in Redis (pipelined with other runs' batches).</summary>
        public const string Batches = "agent_streaming.stream.batches";

        /// <summary>On the terminal batch: the attempt's entries stored.</summary>
        public const string Entries = "agent_streaming.stream.entries";

        /// <summary>On the terminal batch: the UTF-8 bytes of the attempt's entries (text, data, error).</summary>
        public const string Bytes = "agent_streaming.stream.bytes";

        /// <summary>On the terminal batch: the attempt's batches re-sent after a transient Redis failure.</summary>
        public const string Resends = "agent_streaming.stream.resends";
    }

    internal static readonly ActivitySource ActivitySource = new(Name);

    internal static readonly Meter Meter = new(Name);

    internal static readonly Counter<long> EntriesWrittenCounter =
        Meter.CreateCounter<long>(EntriesWritten, "{entry}", "Entries appended to run streams.");

    internal static readonly Histogram<double> WriteDurationHistogram =
        Meter.CreateHistogram<double>(WriteDuration, "s", "Duration of one batched append to a run stream.");

    internal static readonly Counter<long> WriteRetriesCounter =
        Meter.CreateCounter<long>(WriteRetries, "{batch}", "Batches re-sent to a run stream after a transient Redis failure.");

    internal static readonly Counter<long> UnreplicatedWritesCounter =
        Meter.CreateCounter<long>(UnreplicatedWrites, "{wait}", "Waits for replicas (AgentStreaming:Redis:ReplicaAcks) that timed out before enough replicas acknowledged the writes.");

    internal static readonly Counter<long> WriteOutagesCounter =
        Meter.CreateCounter<long>(WriteOutages, "{outage}", "Redis outages a stream writer rode out by re-sending its batches.");

    internal static readonly Counter<long> EntriesDeliveredCounter =
        Meter.CreateCounter<long>(EntriesDelivered, "{entry}", "Entries delivered to stream readers.");

    internal static readonly Counter<long> GapsFilledCounter =
        Meter.CreateCounter<long>(GapsFilled, "{gap}", "Holes between delivered entries that readers filled from Redis.");

    internal static readonly Histogram<int> ReaderBehindHistogram =
        Meter.CreateHistogram<int>(ReaderBehind, "{entry}", "Entries newer than a delivered entry that its reader already held.", tags: null, new InstrumentAdvice<int> { HistogramBucketBoundaries = [0, 1, 2, 5, 10, 50, 100, 500, 1000] });

    internal static readonly Histogram<double> ReaderLagHistogram =
        Meter.CreateHistogram<double>(ReaderLag, "s", "How much older a delivered entry is than the newest its reader knows of (live: than now).", tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = [0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });

    internal static readonly Histogram<double> ResumeDurationHistogram =
        Meter.CreateHistogram<double>(ResumeDuration, "s", "Time from a read with a cursor to its first entry, or to finding nothing after the cursor.", tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = [0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });

    internal static readonly UpDownCounter<long> LiveReadersCounter =
        Meter.CreateUpDownCounter<long>(LiveReaders, "{reader}", "Readers waiting for new entries on the shared tail.");
}

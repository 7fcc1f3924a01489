using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AgentStreaming.DurableAgents.Diagnostics;

/// <summary>Telemetry names of the durable agent runtime.</summary>
public static class DurableAgentsDiagnostics
{
    /// <summary>The name of the runtime's <see cref="ActivitySource"/> and <see cref="Meter"/>.</summary>
    public const string Name = "AgentStreaming.DurableAgents";

    /// <summary>Histogram: time from an attempt's start to its first streamed chunk, unit <c>s</c>.</summary>
    public const string TimeToFirstChunk = "agent_streaming.run.time_to_first_chunk";

    /// <summary>Counter: chunks (streamed updates) produced by runs, unit <c>{chunk}</c>.</summary>
    public const string ChunksWritten = "agent_streaming.run.chunks";

    /// <summary>Histogram: duration of an attempt, unit <c>s</c>.</summary>
    public const string RunDuration = "agent_streaming.run.duration";

    /// <summary>Counter: runs ended, by <c>agent_streaming.run.outcome</c>, unit <c>{run}</c>.</summary>
    public const string Runs = "agent_streaming.runs";

    /// <summary>Counter: runs accepted, unit <c>{run}</c>.</summary>
    public const string RunsAccepted = "agent_streaming.runs.accepted";

    /// <summary>Up-down counter: run attempts executing on this worker now, unit <c>{run}</c>.</summary>
    public const string ActiveRuns = "agent_streaming.run.active";

    /// <summary>Histogram: attempts a run took, recorded when it ends (1 when no worker stopped under it), unit <c>{attempt}</c>.</summary>
    public const string Attempts = "agent_streaming.run.attempts";

    /// <summary>
    /// Counter: attempts after the first, each re-running a run whose previous attempt stopped before it ended (its
    /// worker crashed, was killed or handed it over), unit <c>{attempt}</c>. Crash re-runs are these minus
    /// <see cref="HandOvers"/>.
    /// </summary>
    public const string Reattempts = "agent_streaming.run.reattempts";

    /// <summary>Counter: attempts stopped to hand their run over (the activation went away gracefully), unit <c>{run}</c>.</summary>
    public const string HandOvers = "agent_streaming.run.handovers";

    /// <summary>Counter: conversations a recovery scan took over after their worker stopped renewing its claim, unit <c>{conversation}</c>.</summary>
    public const string Recoveries = "agent_streaming.run.recoveries";

    /// <summary>Counter: cancel requests that stopped a run (running or queued), unit <c>{run}</c>.</summary>
    public const string Cancels = "agent_streaming.run.cancels";

    /// <summary>
    /// The span of one attempt of a run, a child of the caller's <c>run_agent</c> span (the run carries its
    /// <c>traceparent</c>, so a re-run after a crash joins the same trace). Under it: the stream's claim, the Agent
    /// Framework's <c>invoke_agent</c> span (model calls and tools beneath), and the terminal batch.
    /// </summary>
    public const string RunAttemptActivityName = "run_attempt";

    /// <summary>
    /// The span of a reader's resume: a read of a run's stream after a cursor (<c>Last-Event-ID</c>, a continuation
    /// token, <c>starting_after</c>), from the call to the read's end. It belongs to the reader's trace (a child of its
    /// request) and links to the run's trace, whose context the run index keeps, so the dashboard leads from one to the
    /// other.
    /// </summary>
    public const string ResumeActivityName = "resume_run";

    /// <summary>Tag names.</summary>
    public static class Tags
    {
        /// <summary>The agent's name.</summary>
        public const string AgentName = "gen_ai.agent.name";

        /// <summary>The conversation id.</summary>
        public const string ConversationId = "gen_ai.conversation.id";

        /// <summary>The run id.</summary>
        public const string RunId = "agent_streaming.run.id";

        /// <summary>The attempt.</summary>
        public const string Attempt = "agent_streaming.run.attempt";

        /// <summary>The outcome: completed, failed, cancelled.</summary>
        public const string Outcome = "agent_streaming.run.outcome";

        /// <summary>On a resume: the cursor it resumed after.</summary>
        public const string Cursor = "agent_streaming.stream.cursor";

        /// <summary>On a resume: the entries it delivered.</summary>
        public const string EntriesDelivered = "agent_streaming.stream.entries_delivered";
    }

    internal static readonly ActivitySource ActivitySource = new(Name);

    internal static readonly Meter Meter = new(Name);

    internal static readonly Histogram<double> TimeToFirstChunkHistogram =
        Meter.CreateHistogram<double>(TimeToFirstChunk, "s", "Time from an attempt's start to its first streamed chunk.");

    internal static readonly Counter<long> ChunksCounter =
        Meter.CreateCounter<long>(ChunksWritten, "{chunk}", "Streamed updates produced by runs.");

    internal static readonly Histogram<double> RunDurationHistogram =
        Meter.CreateHistogram<double>(RunDuration, "s", "Duration of a run attempt.");

    internal static readonly Counter<long> RunsCounter =
        Meter.CreateCounter<long>(Runs, "{run}", "Runs ended, by outcome.");

    internal static readonly Counter<long> RunsAcceptedCounter =
        Meter.CreateCounter<long>(RunsAccepted, "{run}", "Runs accepted.");

    internal static readonly UpDownCounter<long> ActiveRunsCounter =
        Meter.CreateUpDownCounter<long>(ActiveRuns, "{run}", "Run attempts executing on this worker.");

    internal static readonly Histogram<int> AttemptsHistogram =
        Meter.CreateHistogram<int>(Attempts, "{attempt}", "Attempts a run took.", tags: null, new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 3, 4, 5, 10] });

    internal static readonly Counter<long> ReattemptsCounter =
        Meter.CreateCounter<long>(Reattempts, "{attempt}", "Attempts that re-run a run whose previous attempt stopped before it ended.");

    internal static readonly Counter<long> HandOversCounter =
        Meter.CreateCounter<long>(HandOvers, "{run}", "Attempts stopped to hand their run over to another activation.");

    internal static readonly Counter<long> RecoveriesCounter =
        Meter.CreateCounter<long>(Recoveries, "{conversation}", "Conversations taken over by a recovery scan after their worker stopped renewing its claim.");

    internal static readonly Counter<long> CancelsCounter =
        Meter.CreateCounter<long>(Cancels, "{run}", "Cancel requests that stopped a run.");
}

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
}

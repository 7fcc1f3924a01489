namespace AgentStreaming.DurableAgents.Client;

/// <summary>Whether a run's stream can be read from a position, as <see cref="DurableAgentClient.OpenStreamAsync"/> finds it.</summary>
public enum DurableRunStreamStatus
{
    /// <summary>No such run of this agent: never accepted, its conversation expired, or another agent's.</summary>
    Unknown,

    /// <summary>The run is known, but its stream has expired (or the run ended without one): nothing can be read.</summary>
    Gone,

    /// <summary>The stream's terminal entry is at or before the position: nothing more will come.</summary>
    Ended,

    /// <summary>The stream (or the queued run's stream to come) can be read.</summary>
    Readable,
}

/// <summary>What <see cref="DurableAgentClient.OpenStreamAsync"/> found.</summary>
/// <param name="Status">Whether the stream can be read.</param>
/// <param name="Location">The run's agent and conversation when the run index knows it (a stream written outside the runtime has none).</param>
public readonly record struct DurableRunStreamOpening(DurableRunStreamStatus Status, RunLocation? Location);

namespace AgentStreaming.DurableAgents.Client;

/// <summary>What could not be reached.</summary>
public enum DurableAgentsUnavailableCause
{
    /// <summary>No worker answered within the call's retry deadline (none running, or none with the same Redis and cluster id).</summary>
    Workers,

    /// <summary>Redis, where runs, conversations and streams live, did not answer (restarting, failing over, unreachable).</summary>
    Redis,
}

/// <summary>
/// The durable agents cannot be reached right now: no worker answered, or Redis did not. The same call later can
/// succeed; nothing already stored was lost.
/// </summary>
public sealed class DurableAgentsUnavailableException : Exception
{
    /// <summary>Creates the exception for workers that did not answer.</summary>
    /// <param name="message">What failed and what to do.</param>
    /// <param name="innerException">The last Orleans error.</param>
    public DurableAgentsUnavailableException(string message, Exception? innerException)
        : this(message, DurableAgentsUnavailableCause.Workers, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed and what to do.</param>
    /// <param name="cause">What could not be reached.</param>
    /// <param name="innerException">The underlying error.</param>
    public DurableAgentsUnavailableException(string message, DurableAgentsUnavailableCause cause, Exception? innerException)
        : base(message, innerException)
    {
        Cause = cause;
    }

    /// <summary>What could not be reached.</summary>
    public DurableAgentsUnavailableCause Cause { get; }
}

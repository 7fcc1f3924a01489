namespace AgentStreaming.DurableAgents.Client;

/// <summary>No worker could be reached (at start, or for a call) within the configured deadline.</summary>
public sealed class DurableAgentsUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed and what to do.</param>
    /// <param name="innerException">The last Orleans error.</param>
    public DurableAgentsUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

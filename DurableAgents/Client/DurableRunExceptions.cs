namespace AgentStreaming.DurableAgents.Client;

/// <summary>
/// A continuation token (or run id) names a run no conversation knows: it never existed, or it was forgotten with its
/// conversation (conversations expire after <c>DurableAgents:ConversationTtl</c> without activity).
/// </summary>
public sealed class DurableRunNotFoundException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="runId">The run.</param>
    public DurableRunNotFoundException(string runId)
        : base($"Run '{runId}' was not found or has expired with its conversation: no conversation knows it. Check the run id, or start a new run.")
    {
        RunId = runId;
    }

    /// <summary>The run.</summary>
    public string RunId { get; }
}

/// <summary>
/// The run is known, but its Redis Stream has expired (streams live <c>REDIS_STREAM_TTL_MINUTES</c> after their last
/// entry), so it cannot be streamed or resumed any more. A finished run's final response is still available: call
/// <c>RunAsync</c> with the same continuation token.
/// </summary>
public sealed class DurableRunExpiredException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="runId">The run.</param>
    /// <param name="message">What happened and what to do.</param>
    /// <param name="innerException">The stream reader's error.</param>
    public DurableRunExpiredException(string runId, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        RunId = runId;
    }

    /// <summary>The run.</summary>
    public string RunId { get; }
}

using Orleans.Concurrency;

namespace AgentStreaming.DurableAgents;

/// <summary>
/// One conversation with one agent (key <c>{agentName}/{conversationId}</c>): the durable entity that holds the
/// history and the run queue, and executes runs one at a time in order of acceptance.
/// </summary>
[Alias("AgentStreaming.IAgentConversationGrain")]
public interface IAgentConversationGrain : IGrainWithStringKey
{
    /// <summary>Accepts a run: persists it as queued, then answers at once (the answer does not wait for the agent).</summary>
    /// <param name="request">The message and optional run id.</param>
    /// <returns>The run's handle; the same handle again for a run id already accepted.</returns>
    /// <exception cref="ArgumentException">Unknown agent, empty or oversized message, malformed run id.</exception>
    [Alias("Run")]
    Task<RunHandle> RunAsync(RunRequest request);

    /// <summary>Cancels a queued or running run durably; a finished run is left as it is.</summary>
    /// <param name="runId">The run.</param>
    /// <returns>The run after the request, or <see langword="null"/> when the conversation has no such run.</returns>
    [Alias("Cancel")]
    Task<RunInfo?> CancelRunAsync(string runId);

    /// <summary>The conversation's history and runs.</summary>
    /// <returns>The snapshot.</returns>
    [Alias("Get")]
    [ReadOnly]
    Task<ConversationSnapshot> GetConversationAsync();

    /// <summary>One run.</summary>
    /// <param name="runId">The run.</param>
    /// <returns>The run, or <see langword="null"/>.</returns>
    [Alias("GetRun")]
    [ReadOnly]
    Task<RunInfo?> GetRunAsync(string runId);

    /// <summary>Makes sure unfinished runs are being executed (called by crash recovery).</summary>
    /// <returns>A task that completes when execution is (re)started.</returns>
    [Alias("Resume")]
    Task ResumeAsync();

    /// <summary>Deletes the conversation when it has been idle for longer than its time-to-live.</summary>
    /// <returns><see langword="true"/> when it was deleted.</returns>
    [Alias("Expire")]
    Task<bool> ExpireIfIdleAsync();
}

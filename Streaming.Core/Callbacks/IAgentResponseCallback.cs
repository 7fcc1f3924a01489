using Microsoft.Agents.AI;

namespace AgentStreaming.Streaming.Callbacks;

/// <summary>
/// Receives an agent run's streamed response as it is produced: each update, then exactly one of the final
/// response, a failure or a cancellation.
/// </summary>
/// <remarks>
/// The durable runtime calls <see cref="OnRunStartedAsync"/> once per attempt before the model is called, then
/// <see cref="OnStreamingResponseUpdateAsync"/> per update, then one terminal method. Implementations must throw
/// when they cannot record what they were given, so the runtime can retry or fail the run.
/// </remarks>
public interface IAgentResponseCallback
{
    /// <summary>An attempt of a run begins (before any update).</summary>
    /// <param name="context">The run.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the attempt is recorded.</returns>
    ValueTask OnRunStartedAsync(AgentResponseCallbackContext context, CancellationToken cancellationToken = default);

    /// <summary>A streamed update of the response.</summary>
    /// <param name="update">The update (text, tool calls and results, usage).</param>
    /// <param name="context">The run.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the update is accepted (not necessarily stored yet).</returns>
    ValueTask OnStreamingResponseUpdateAsync(AgentResponseUpdate update, AgentResponseCallbackContext context, CancellationToken cancellationToken = default);

    /// <summary>Waits until every update given so far is stored (before the runtime records the run as answered).</summary>
    /// <param name="context">The run.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when the updates are stored; at once for callbacks that store synchronously.</returns>
    ValueTask FlushAsync(AgentResponseCallbackContext context, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <summary>The run succeeded with this final response.</summary>
    /// <param name="response">The final response.</param>
    /// <param name="context">The run.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the response's end is stored.</returns>
    ValueTask OnAgentResponseAsync(AgentResponse response, AgentResponseCallbackContext context, CancellationToken cancellationToken = default);

    /// <summary>The run failed (model or tool error, attempts exhausted, producer lost).</summary>
    /// <param name="message">A human-readable message for readers.</param>
    /// <param name="context">The run.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the failure is stored.</returns>
    ValueTask OnRunFailedAsync(string message, AgentResponseCallbackContext context, CancellationToken cancellationToken = default);

    /// <summary>The run was cancelled.</summary>
    /// <param name="message">A human-readable message for readers.</param>
    /// <param name="context">The run.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the cancellation is stored.</returns>
    ValueTask OnRunCancelledAsync(string message, AgentResponseCallbackContext context, CancellationToken cancellationToken = default);
}

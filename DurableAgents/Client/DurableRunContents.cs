using Microsoft.Extensions.AI;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>
/// A new attempt of the run starts (its worker stopped mid-run and another one re-runs it): the text, tool calls and
/// usage streamed before this update belong to an abandoned attempt. Drop them; the answer is what follows.
/// </summary>
/// <remarks>
/// The only content of its update. Registered with System.Text.Json through <see cref="DurableRunContents.AddTo"/> (the
/// discriminator <c>durableRunReset</c>) for callers that serialize updates.
/// </remarks>
public sealed class DurableRunResetContent : AIContent
{
    /// <summary>Creates the content.</summary>
    /// <param name="attempt">The 1-based attempt that starts.</param>
    public DurableRunResetContent(int attempt) => Attempt = attempt;

    /// <summary>The 1-based attempt that starts (2 or more).</summary>
    public int Attempt { get; }
}

/// <summary>The <see cref="ErrorContent.ErrorCode"/>s of a durable run's last update or response, and content helpers.</summary>
public static class DurableRunContents
{
    /// <summary>The run failed (model or tool failure, attempts exhausted, stream expired mid-run): its stream ended with <c>error</c>.</summary>
    public const string RunFailedErrorCode = "run_failed";

    /// <summary>The run was cancelled (<see cref="DurableAIAgentProxy.CancelAsync"/>): its stream ended with <c>cancelled</c>.</summary>
    public const string RunCancelledErrorCode = "run_cancelled";

    /// <summary>Lets System.Text.Json serialize <see cref="DurableRunResetContent"/> inside <see cref="AIContent"/> lists.</summary>
    /// <param name="options">Options to add the type to (not yet used for serialization), e.g. a copy of <c>AIJsonUtilities.DefaultOptions</c>.</param>
    public static void AddTo(System.Text.Json.JsonSerializerOptions options)
        => options.AddAIContentType<DurableRunResetContent>("durableRunReset");
}

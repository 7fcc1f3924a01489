using AgentStreaming.Client.Rendering;
using AgentStreaming.DurableAgents.Client;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace AgentStreaming.Client.Commands;

/// <summary>How watching a run ended.</summary>
internal enum WatchOutcome
{
    /// <summary>The run ended with <c>done</c>.</summary>
    Done,

    /// <summary>The run ended with <c>error</c>.</summary>
    Failed,

    /// <summary>The run ended with <c>cancelled</c>.</summary>
    Cancelled,

    /// <summary>The live view was detached; the run goes on.</summary>
    Detached,
}

/// <summary>
/// Streams a run through the durable agent (<c>RunStreamingAsync</c> with the run's continuation token) and renders
/// each update's stream entry, until the run's last update or a detach.
/// </summary>
/// <param name="agent">The durable agent.</param>
/// <param name="renderer">The renderer.</param>
internal sealed class RunWatcher(DurableAIAgentProxy agent, IRunRenderer renderer)
{
    /// <summary>Watches until the run ends or <paramref name="detach"/> fires.</summary>
    /// <param name="run">The run; its token moves with every update shown, so a detach can resume exactly there.</param>
    /// <param name="howToResume">The hint shown on detach.</param>
    /// <param name="detach">Detaches the live view: stops the local read only, the run goes on.</param>
    /// <returns>The outcome.</returns>
    /// <exception cref="DurableRunNotFoundException">The run is unknown.</exception>
    /// <exception cref="DurableRunExpiredException">Its stream expired.</exception>
    /// <exception cref="DurableAgentsUnavailableException">Redis stayed unreachable.</exception>
    public async Task<WatchOutcome> WatchAsync(RunProgress run, Func<RunProgress, string> howToResume, CancellationToken detach)
    {
        var spinner = run.Entries == 0 ? renderer.Spinner("waiting for the answer…") : null;
        try
        {
            await foreach (var update in agent.RunStreamingAsync(session: null, Resume(run.Token), detach))
            {
                if (spinner is not null)
                {
                    await spinner.DisposeAsync();
                    spinner = null;
                }

                var chunk = Entry(update);
                run.Record(chunk, update.ContinuationToken);
                renderer.Chunk(run, chunk);
                if (update.ContinuationToken is null)
                {
                    // The run's last update: it has ended.
                    renderer.Finished(run, chunk);
                    return Outcome(update);
                }
            }

            // The token was at or after the run's last entry: nothing more to show; report how the run ended.
            var last = await LastUpdateAsync(run.RunId, detach);
            renderer.Finished(run, Entry(last));
            return Outcome(last);
        }
        catch (OperationCanceledException) when (detach.IsCancellationRequested)
        {
            if (spinner is not null)
            {
                await spinner.DisposeAsync();
                spinner = null;
            }

            renderer.Detached(run, howToResume(run));
            return WatchOutcome.Detached;
        }
        finally
        {
            if (spinner is not null)
            {
                await spinner.DisposeAsync();
            }
        }
    }

    /// <summary>The exit code for an outcome.</summary>
    /// <param name="outcome">The outcome.</param>
    /// <returns>The exit code.</returns>
    public static int ExitCode(WatchOutcome outcome) => outcome switch
    {
        WatchOutcome.Done => ExitCodes.Success,
        WatchOutcome.Failed => ExitCodes.RunFailed,
        WatchOutcome.Cancelled => ExitCodes.RunCancelled,
        _ => ExitCodes.Detached,
    };

    private static AgentRunOptions Resume(ResponseContinuationToken token) => new() { AllowBackgroundResponses = true, ContinuationToken = token };

    // The renderers show entries as the stream holds them (entry id, sequence, attempt): the update's raw representation.
    private static DurableRunChunk Entry(AgentResponseUpdate update) => (DurableRunChunk)update.RawRepresentation!;

    private static WatchOutcome Outcome(AgentResponseUpdate last)
        => last.FinishReason == ChatFinishReason.Stop ? WatchOutcome.Done
            : last.Contents.OfType<ErrorContent>().Any(e => e.ErrorCode == DurableRunContents.RunCancelledErrorCode) ? WatchOutcome.Cancelled
            : WatchOutcome.Failed;

    private async Task<AgentResponseUpdate> LastUpdateAsync(string runId, CancellationToken cancellationToken)
    {
        AgentResponseUpdate? last = null;
        await foreach (var update in agent.RunStreamingAsync(session: null, Resume(DurableAgentContinuationToken.ForRun(runId)), cancellationToken))
        {
            last = update;
        }

        return last ?? throw new InvalidOperationException($"The stream of run '{runId}' ended without entries.");
    }
}

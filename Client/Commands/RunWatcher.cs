using AgentStreaming.Client.Rendering;
using AgentStreaming.Streaming.Streams;

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

/// <summary>Reads a run's stream from its cursor and renders each entry, until the terminal entry or a detach.</summary>
/// <param name="reader">The Redis stream reader.</param>
/// <param name="renderer">The renderer.</param>
internal sealed class RunWatcher(IAgentStreamReader reader, IRunRenderer renderer)
{
    /// <summary>Watches until the run ends or <paramref name="detach"/> fires.</summary>
    /// <param name="run">The run; its cursor moves with every entry shown, so a detach can resume exactly there.</param>
    /// <param name="stillPending">
    /// For a run this client started: asked when the stream has not appeared in time; <see langword="true"/> (the run is
    /// still queued behind others) keeps waiting.
    /// </param>
    /// <param name="howToResume">The hint shown on detach.</param>
    /// <param name="detach">Detaches the live view (the run goes on).</param>
    /// <returns>The outcome.</returns>
    /// <exception cref="AgentStreamNotFoundException">The run is unknown or its stream expired.</exception>
    /// <exception cref="AgentStreamUnavailableException">Redis stayed unreachable.</exception>
    public async Task<WatchOutcome> WatchAsync(RunProgress run, Func<Task<bool>>? stillPending, Func<RunProgress, string> howToResume, CancellationToken detach)
    {
        var spinner = run.Entries == 0 ? renderer.Spinner("waiting for the answer…") : null;
        try
        {
            while (true)
            {
                try
                {
                    await foreach (var chunk in reader.ReadStreamAsync(run.RunId, run.Cursor, detach))
                    {
                        if (spinner is not null)
                        {
                            await spinner.DisposeAsync();
                            spinner = null;
                        }

                        run.Record(chunk);
                        renderer.Chunk(run, chunk);
                        if (chunk.IsTerminal)
                        {
                            renderer.Finished(run, chunk);
                            return Outcome(chunk.Kind);
                        }
                    }

                    // The cursor was at or after the terminal entry: nothing more to show; report how the run ended.
                    var terminal = await FindTerminalAsync(run.RunId, detach);
                    renderer.Finished(run, terminal);
                    return Outcome(terminal.Kind);
                }
                catch (AgentStreamNotFoundException ex) when (!ex.ExpiredWhileReading && stillPending is not null)
                {
                    if (!await stillPending())
                    {
                        throw;
                    }

                    // Queued behind earlier runs of the conversation: its stream starts when it does.
                }
            }
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

    private static WatchOutcome Outcome(StreamEntryKind kind) => kind switch
    {
        StreamEntryKind.Done => WatchOutcome.Done,
        StreamEntryKind.Cancelled => WatchOutcome.Cancelled,
        _ => WatchOutcome.Failed,
    };

    private async Task<StreamChunk> FindTerminalAsync(string runId, CancellationToken cancellationToken)
    {
        StreamChunk last = default;
        await foreach (var chunk in reader.ReadStreamAsync(runId, cursor: null, cancellationToken))
        {
            last = chunk;
        }

        return last;
    }
}

using AgentStreaming.Client.Hosting;
using AgentStreaming.Client.Input;
using AgentStreaming.Client.Rendering;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Client.Commands;

/// <summary><c>--prompt</c>: one turn (fire-and-forget and streamed, or <c>--wait</c>), then exit.</summary>
internal static class OneShotCommand
{
    /// <summary>Runs the turn; Ctrl+C detaches (the run goes on).</summary>
    /// <param name="services">The client's services.</param>
    /// <param name="settings">The command line.</param>
    /// <param name="renderer">The renderer.</param>
    /// <param name="interrupts">Ctrl+C.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(ClientServices services, ClientSettings settings, IRunRenderer renderer, ConsoleInterrupts interrupts)
    {
        var agent = services.Agents.GetAgent(ClientSettings.AgentName);
        var session = settings.ConversationId is { } id ? agent.GetSession(id) : agent.NewSession();
        using var detach = new CancellationTokenSource();
        void Detach() => detach.Cancel();
        interrupts.Interrupted += Detach;
        try
        {
            var outcome = await Turn.RunAsync(services, agent, session, settings.Prompt!, settings.Wait, renderer, ClientApp.ResumeCommand, started: null, detach.Token);
            if (await services.WorkerPageAsync($"/agents/?conversation={session.ConversationId}") is { } page)
            {
                renderer.Notice($"conversation {session.ConversationId} on the agents page: {page}");
            }

            return RunWatcher.ExitCode(outcome);
        }
        finally
        {
            interrupts.Interrupted -= Detach;
        }
    }
}

/// <summary>One turn of a conversation: start a run and show it.</summary>
internal static class Turn
{
    /// <summary>Starts a run of <paramref name="message"/> and watches it until it ends or is detached.</summary>
    /// <param name="services">The client's services.</param>
    /// <param name="agent">The agent.</param>
    /// <param name="session">The conversation.</param>
    /// <param name="message">The user's message.</param>
    /// <param name="wait">Wait-for-response mode.</param>
    /// <param name="renderer">The renderer.</param>
    /// <param name="howToResume">The hint shown on detach.</param>
    /// <param name="started">Receives the run as soon as it has an id.</param>
    /// <param name="detach">Detaches (the run goes on).</param>
    /// <returns>The outcome.</returns>
    public static async Task<WatchOutcome> RunAsync(
        ClientServices services,
        DurableAIAgentProxy agent,
        DurableAgentSession session,
        string message,
        bool wait,
        IRunRenderer renderer,
        Func<RunProgress, string> howToResume,
        Action<RunProgress>? started,
        CancellationToken detach)
    {
        // The client picks the run id, so it can tell how to resume even when it stops waiting before the answer.
        var run = new RunProgress(DurableAgentNames.NewRunId(), session.ConversationId);
        started?.Invoke(run);
        var watcher = new RunWatcher(agent, renderer);
        try
        {
            if (wait)
            {
                renderer.Started(run);
                await using (renderer.Spinner("waiting for the whole answer (--wait)…"))
                {
                    // Without background responses RunAsync answers when the run has ended.
                    await agent.RunAsync(message, session, new DurableAgentRunOptions { RunId = run.RunId, Owner = services.Principal }, detach);
                }

                // The run has ended; its stream holds the answer as it was produced.
                return await watcher.WatchAsync(run, howToResume, detach);
            }

            // A background response: the run is accepted, and its continuation token says where its stream starts.
            var accepted = await agent.RunAsync(message, session, new DurableAgentRunOptions { AllowBackgroundResponses = true, RunId = run.RunId, Owner = services.Principal }, detach);
            run.Token = accepted.ContinuationToken ?? run.Token;
            renderer.Started(run);
            return await watcher.WatchAsync(run, howToResume, detach);
        }
        catch (OperationCanceledException) when (detach.IsCancellationRequested)
        {
            renderer.Detached(run, howToResume(run));
            return WatchOutcome.Detached;
        }
    }
}

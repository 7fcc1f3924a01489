using AgentStreaming.Client.Hosting;
using AgentStreaming.Client.Input;
using AgentStreaming.Client.Rendering;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Client.Commands;

/// <summary><c>--run RUNID [--cursor ENTRYID]</c>: streams an existing run from Redis, live if it is still going (Redis only, no Worker).</summary>
internal static class ReplayCommand
{
    /// <summary>Streams the run; Ctrl+C detaches.</summary>
    /// <param name="services">The client's services.</param>
    /// <param name="settings">The command line.</param>
    /// <param name="renderer">The renderer.</param>
    /// <param name="interrupts">Ctrl+C.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(ClientServices services, ClientSettings settings, IRunRenderer renderer, ConsoleInterrupts interrupts)
    {
        // The run id and cursor become the continuation token the durable agent resumes the stream from.
        var agent = services.Agents.GetAgent(ClientSettings.AgentName);
        var run = new RunProgress(settings.RunId!, conversationId: null, DurableAgentContinuationToken.ForRun(settings.RunId!, settings.Cursor));
        using var detach = new CancellationTokenSource();
        void Detach() => detach.Cancel();
        interrupts.Interrupted += Detach;
        try
        {
            renderer.Started(run);
            var outcome = await new RunWatcher(agent, renderer).WatchAsync(run, ClientApp.ResumeCommand, detach.Token);
            return RunWatcher.ExitCode(outcome);
        }
        finally
        {
            interrupts.Interrupted -= Detach;
        }
    }
}

using AgentStreaming.Client.Hosting;
using AgentStreaming.Client.Input;
using AgentStreaming.Client.Rendering;

namespace AgentStreaming.Client.Commands;

/// <summary><c>--run RUNID [--cursor ENTRYID]</c>: streams an existing run from Redis, live if it is still going.</summary>
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
        var run = new RunProgress(settings.RunId!, conversationId: null, settings.Cursor);
        using var detach = new CancellationTokenSource();
        void Detach() => detach.Cancel();
        interrupts.Interrupted += Detach;
        try
        {
            renderer.Started(run);
            var outcome = await new RunWatcher(services.Streams, renderer).WatchAsync(run, stillPending: null, ClientApp.ResumeCommand, detach.Token);
            return RunWatcher.ExitCode(outcome);
        }
        finally
        {
            interrupts.Interrupted -= Detach;
        }
    }
}

using AgentStreaming.Client.Hosting;
using AgentStreaming.Client.Input;
using AgentStreaming.Client.Rendering;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Client.Commands;

/// <summary>Runs the mode the command line asked for and turns every failure into a message and an exit code.</summary>
internal static class ClientApp
{
    /// <summary>Runs the client.</summary>
    /// <param name="settings">The command line.</param>
    /// <param name="cancellationToken">Not used for Ctrl+C (the client handles it); stops everything.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(ClientSettings settings, CancellationToken cancellationToken)
    {
        var target = ConsoleTarget.FromConsole();
        IRunRenderer renderer = settings.Json ? new JsonRenderer(target) : new HumanRenderer(target);
        using var interrupts = new ConsoleInterrupts();
        using var starting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void AbortStart() => starting.Cancel();
        interrupts.Interrupted += AbortStart;
        try
        {
            await using var services = await ClientHost.StartAsync(settings, starting.Token);
            interrupts.Interrupted -= AbortStart;
            return settings.Mode switch
            {
                ClientMode.Replay => await ReplayCommand.RunAsync(services, settings, renderer, interrupts),
                ClientMode.OneShot => await OneShotCommand.RunAsync(services, settings, renderer, interrupts),
                _ => await ChatCommand.RunAsync(services, settings, renderer, interrupts, cancellationToken),
            };
        }
        catch (OperationCanceledException) when (starting.IsCancellationRequested)
        {
            renderer.Error("Interrupted while connecting.");
            return ExitCodes.Detached;
        }
        catch (ClientException ex)
        {
            renderer.Error(ex.Message);
            return ex.ExitCode;
        }
        catch (Exception ex) when (ex is DurableRunNotFoundException or DurableRunExpiredException)
        {
            renderer.Error(ex.Message);
            return ExitCodes.RunNotFound;
        }
        catch (DurableAgentsUnavailableException ex) when (ex.Cause == DurableAgentsUnavailableCause.Redis)
        {
            renderer.Error($"{ex.Message} Check that Redis is running, then resume with --run and --cursor.");
            return ExitCodes.RedisUnreachable;
        }
        catch (DurableAgentsUnavailableException ex)
        {
            renderer.Error(ex.Message);
            return ExitCodes.NoWorker;
        }
        catch (ArgumentException ex)
        {
            renderer.Error(ex.Message.Split(" (Parameter", 2)[0]);
            return ExitCodes.BadArguments;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            renderer.Error($"Unexpected failure: {ex.GetType().Name}: {ex.Message}");
            return ExitCodes.Unexpected;
        }
        finally
        {
            interrupts.Interrupted -= AbortStart;
        }
    }

    /// <summary>The command line that resumes a run where the client left it.</summary>
    /// <param name="run">The run.</param>
    /// <returns>The hint.</returns>
    public static string ResumeCommand(RunProgress run)
        => run.Cursor is null
            ? $"Resume with: AgentStreaming.Client --run {run.RunId}"
            : $"Resume with: AgentStreaming.Client --run {run.RunId} --cursor {run.Cursor}";
}

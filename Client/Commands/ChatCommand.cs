using AgentStreaming.Client.Hosting;
using AgentStreaming.Client.Input;
using AgentStreaming.Client.Rendering;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Client.Commands;

/// <summary>
/// The chat: one run per message, shown live. While a run streams, Enter (an empty line when stdin is piped) or
/// Ctrl+C detaches the view and the run goes on; at the prompt an empty line resumes it from its cursor.
/// </summary>
internal sealed class ChatCommand
{
    private const string Help =
        "Type a message and press Enter to ask TravelPlanner. While it answers: Enter or Ctrl+C detaches (the run goes on). " +
        "At the prompt: Enter resumes a detached run, /cancel cancels it, /status shows ids, /quit exits (so do Ctrl+C and Ctrl+D).";

    private readonly ClientServices _services;
    private readonly ClientSettings _settings;
    private readonly IRunRenderer _renderer;
    private readonly ChatInput _input;
    private readonly DurableAIAgentProxy _agent;
    private readonly DurableAgentSession _session;
    private RunProgress? _detached;
    private int _lastExitCode = ExitCodes.Success;

    private ChatCommand(ClientServices services, ClientSettings settings, IRunRenderer renderer, ChatInput input)
    {
        _services = services;
        _settings = settings;
        _renderer = renderer;
        _input = input;
        _agent = services.Agents.GetAgent(ClientSettings.AgentName);
        _session = settings.ConversationId is { } id ? _agent.GetSession(id) : _agent.NewSession();
    }

    /// <summary>Chats until /quit, Ctrl+C at the prompt, or the end of input.</summary>
    /// <param name="services">The client's services.</param>
    /// <param name="settings">The command line.</param>
    /// <param name="renderer">The renderer.</param>
    /// <param name="interrupts">Ctrl+C.</param>
    /// <param name="cancellationToken">Ends the chat.</param>
    /// <returns>The exit code of the last run (<see cref="ExitCodes.Detached"/> when one was left detached).</returns>
    public static async Task<int> RunAsync(ClientServices services, ClientSettings settings, IRunRenderer renderer, ConsoleInterrupts interrupts, CancellationToken cancellationToken)
    {
        using var input = new ChatInput(interrupts, renderer);
        var chat = new ChatCommand(services, settings, renderer, input);
        return await chat.LoopAsync(cancellationToken);
    }

    private async Task<int> LoopAsync(CancellationToken cancellationToken)
    {
        await GreetAsync();
        while (true)
        {
            _renderer.Prompt(_detached is null ? "> " : "[Enter resumes · /cancel] > ");
            _input.Echo = true;
            var input = await _input.ReadAsync(cancellationToken);
            _input.Echo = false;
            if (input.Kind != InputKind.Line)
            {
                return Quit();
            }

            var text = input.Text.Trim();
            switch (text)
            {
                case "":
                    if (_detached is { } run)
                    {
                        _renderer.Resumed(run);
                        await WatchAsync(run, (watcher, detach) => watcher.WatchAsync(run, ResumeHint, detach));
                    }

                    break;
                case "/quit" or "/exit":
                    return Quit();
                case "/help":
                    _renderer.Notice(Help);
                    break;
                case "/status":
                    _renderer.Notice($"conversation {_session.ConversationId}" + (_detached is { } d ? $" · detached run {d.RunId} at cursor {d.Cursor ?? "(start)"}" : string.Empty));
                    break;
                case "/cancel":
                    await CancelAsync();
                    break;
                default:
                    if (text.StartsWith('/'))
                    {
                        _renderer.Error($"Unknown command '{text}'. {Help}");
                        break;
                    }

                    if (_detached is { } previous)
                    {
                        _renderer.Notice($"Run {previous.RunId} goes on; this message runs after it. ({ClientApp.ResumeCommand(previous)})");
                        _detached = null;
                    }

                    await WatchAsync(null, (_, detach) => Turn.RunAsync(_services, _agent, _session, text, _settings.Wait, _renderer, ResumeHint, started: r => _detached = r, detach));
                    break;
            }
        }
    }

    private async Task GreetAsync()
    {
        if (_settings.ConversationId is null)
        {
            _renderer.Notice($"New conversation {_session.ConversationId} with {ClientSettings.AgentName}. {Help}");
            return;
        }

        var snapshot = await _agent.GetConversationAsync(_session);
        _renderer.Notice(snapshot.Exists
            ? $"Continuing conversation {_session.ConversationId} ({snapshot.History.Count(m => m.Role == "user")} earlier turns). {Help}"
            : $"Conversation {_session.ConversationId} has no history yet; it starts now. {Help}");
    }

    private async Task CancelAsync()
    {
        if (_detached is not { } run)
        {
            _renderer.Notice("No run to cancel: cancel applies to a detached run that is still going.");
            return;
        }

        var info = await _agent.CancelAsync(_session, run.RunId);
        _renderer.Notice(info is null ? $"Run {run.RunId} is not known to the conversation." : $"Cancel requested for run {run.RunId}.");
        _renderer.Resumed(run);
        await WatchAsync(run, (watcher, detach) => watcher.WatchAsync(run, ResumeHint, detach));
    }

    /// <summary>Watches a run while listening to the input: Enter/Ctrl+C detach, "/cancel" cancels.</summary>
    private async Task WatchAsync(RunProgress? run, Func<RunWatcher, CancellationToken, Task<WatchOutcome>> watch)
    {
        using var detach = new CancellationTokenSource();
        using var stopListening = new CancellationTokenSource();
        var listening = ListenAsync(() => run ?? _detached, detach, stopListening.Token);
        WatchOutcome outcome;
        try
        {
            outcome = await watch(new RunWatcher(_agent, _renderer), detach.Token);
        }
        finally
        {
            await stopListening.CancelAsync();
            await listening;
        }

        _lastExitCode = RunWatcher.ExitCode(outcome);
        if (outcome != WatchOutcome.Detached)
        {
            _detached = null;
        }
        else
        {
            _detached = run ?? _detached;
        }
    }

    private async Task ListenAsync(Func<RunProgress?> currentRun, CancellationTokenSource detach, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                var input = await _input.PeekAsync(stop);
                if (input.Kind == InputKind.End || (input.Kind == InputKind.Line && input.Text.Length > 0 && !_renderer.IsTerminal && input.Text.Trim() != "/cancel"))
                {
                    // Piped input: later messages wait for the prompt; the end of input lets the run finish.
                    return;
                }

                if (input.Kind == InputKind.Line && input.Text.Trim() is { Length: > 0 } typed && typed != "/cancel")
                {
                    // A command or a message typed while the run answers (or just as it ends) detaches and is left for
                    // the prompt, which carries it out: it is never swallowed.
                    await detach.CancelAsync();
                    return;
                }

                _ = await _input.ReadAsync(stop);
                if (input.Kind == InputKind.Line && input.Text.Trim() == "/cancel" && currentRun() is { } run)
                {
                    var info = await _agent.CancelAsync(_session, run.RunId);
                    _renderer.Notice(info is null ? "The run is not known yet; try again." : $"Cancel requested for run {run.RunId}.");
                    continue;
                }

                await detach.CancelAsync();
                return;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private int Quit()
    {
        if (_detached is { } run)
        {
            _renderer.Notice($"Run {run.RunId} goes on. {ClientApp.ResumeCommand(run)}");
            return ExitCodes.Detached;
        }

        return _lastExitCode;
    }

    private static string ResumeHint(RunProgress run) => "Press Enter to resume, type /cancel to cancel it, or a new message.";
}

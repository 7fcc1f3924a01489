namespace AgentStreaming.Client.Input;

/// <summary>
/// Takes Ctrl+C (SIGINT) from the runtime so it does not end the process: the client uses it to detach a live
/// view. Raises <see cref="Interrupted"/> instead.
/// </summary>
internal sealed class ConsoleInterrupts : IDisposable
{
    public ConsoleInterrupts() => Console.CancelKeyPress += OnCancelKeyPress;

    /// <summary>Ctrl+C was pressed.</summary>
    public event Action? Interrupted;

    /// <inheritdoc />
    public void Dispose() => Console.CancelKeyPress -= OnCancelKeyPress;

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        Interrupted?.Invoke();
    }
}

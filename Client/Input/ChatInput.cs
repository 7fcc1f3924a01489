using System.Text;
using System.Threading.Channels;
using AgentStreaming.Client.Rendering;

namespace AgentStreaming.Client.Input;

/// <summary>
/// The chat's input: lines and Ctrl+C as one sequence of events, readable while a run streams (so Enter can
/// detach it). On a terminal keys are read one by one and echoed only at the prompt; otherwise stdin is read line
/// by line.
/// </summary>
internal sealed class ChatInput : IDisposable
{
    private readonly Channel<InputEvent> _events = Channel.CreateUnbounded<InputEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConsoleInterrupts _interrupts;
    private readonly IRunRenderer _renderer;
    private readonly StringBuilder _line = new();
    private readonly Lock _gate = new();
    private bool _echo;

    /// <summary>Starts reading stdin on a background thread.</summary>
    /// <param name="interrupts">Ctrl+C.</param>
    /// <param name="renderer">Echoes typed keys at the prompt.</param>
    public ChatInput(ConsoleInterrupts interrupts, IRunRenderer renderer)
    {
        _interrupts = interrupts;
        _renderer = renderer;
        _interrupts.Interrupted += OnInterrupted;
        var keys = !Console.IsInputRedirected && renderer.IsTerminal;
        var thread = new Thread(keys ? ReadKeys : ReadLines) { IsBackground = true, Name = "chat input" };
        thread.Start();
    }

    /// <summary>Whether typed keys are echoed (at the prompt) or not (while a run streams).</summary>
    public bool Echo
    {
        get
        {
            lock (_gate)
            {
                return _echo;
            }
        }

        set
        {
            lock (_gate)
            {
                _echo = value;
                if (!value)
                {
                    _line.Clear();
                }
            }
        }
    }

    /// <summary>Waits for the next event. Cancelling does not lose an event.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The event.</returns>
    public ValueTask<InputEvent> ReadAsync(CancellationToken cancellationToken = default) => _events.Reader.ReadAsync(cancellationToken);

    /// <summary>Waits for the next event without taking it.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The event, still to be read.</returns>
    public async ValueTask<InputEvent> PeekAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (_events.Reader.TryPeek(out var next))
            {
                return next;
            }

            await _events.Reader.WaitToReadAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _interrupts.Interrupted -= OnInterrupted;

    private void OnInterrupted()
    {
        lock (_gate)
        {
            _line.Clear();
        }

        _events.Writer.TryWrite(InputEvent.Interrupt);
    }

    private void ReadLines()
    {
        try
        {
            while (Console.In.ReadLine() is { } line)
            {
                _events.Writer.TryWrite(InputEvent.Line(line));
            }
        }
        catch (IOException)
        {
        }

        _events.Writer.TryWrite(InputEvent.End);
    }

    private void ReadKeys()
    {
        try
        {
            while (true)
            {
                var key = Console.ReadKey(intercept: true);
                if (key.Key == ConsoleKey.D && key.Modifiers.HasFlag(ConsoleModifiers.Control))
                {
                    break;
                }

                OnKey(key);
            }
        }
        catch (InvalidOperationException)
        {
            // stdin went away.
        }
        catch (IOException)
        {
        }

        _events.Writer.TryWrite(InputEvent.End);
    }

    private void OnKey(ConsoleKeyInfo key)
    {
        lock (_gate)
        {
            switch (key.Key)
            {
                case ConsoleKey.Enter:
                    var text = _line.ToString();
                    _line.Clear();
                    if (_echo)
                    {
                        _renderer.Echo("\n");
                    }

                    _events.Writer.TryWrite(InputEvent.Line(text));
                    return;
                case ConsoleKey.Backspace:
                    if (_line.Length > 0)
                    {
                        _line.Length--;
                        if (_echo)
                        {
                            _renderer.Echo("\b");
                        }
                    }

                    return;
                default:
                    if (key.KeyChar != '\0' && !char.IsControl(key.KeyChar))
                    {
                        _line.Append(key.KeyChar);
                        if (_echo)
                        {
                            _renderer.Echo(key.KeyChar.ToString());
                        }
                    }

                    return;
            }
        }
    }
}

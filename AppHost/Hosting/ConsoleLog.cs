namespace AgentStreaming.AppHost.Hosting;

/// <summary>One line of a resource's console output.</summary>
/// <param name="Sequence">Increasing number of the line within the AppHost's life.</param>
/// <param name="Timestamp">When it was read.</param>
/// <param name="Text">The line.</param>
/// <param name="IsError">Whether it came from standard error.</param>
public readonly record struct ConsoleLine(long Sequence, DateTimeOffset Timestamp, string Text, bool IsError);

/// <summary>The bounded console output of one resource instance (oldest lines dropped first).</summary>
public sealed class ConsoleLog
{
    private readonly int _capacity;
    private readonly LinkedList<ConsoleLine> _lines = new();
    private readonly object _gate = new();
    private long _sequence;

    /// <summary>Creates the log.</summary>
    /// <param name="capacity">Lines kept.</param>
    public ConsoleLog(int capacity = 5000) => _capacity = capacity;

    /// <summary>Raised for every new line.</summary>
    public event Action<ConsoleLine>? LineAdded;

    /// <summary>Appends a line.</summary>
    /// <param name="text">The text.</param>
    /// <param name="isError">Whether it came from standard error.</param>
    public void Add(string text, bool isError = false)
    {
        ConsoleLine line;
        lock (_gate)
        {
            line = new ConsoleLine(++_sequence, DateTimeOffset.UtcNow, text, isError);
            _lines.AddLast(line);
            if (_lines.Count > _capacity)
            {
                _lines.RemoveFirst();
            }
        }

        LineAdded?.Invoke(line);
    }

    /// <summary>The lines after a sequence number.</summary>
    /// <param name="after">The last sequence number already seen (0 for all).</param>
    /// <returns>The lines.</returns>
    public IReadOnlyList<ConsoleLine> After(long after)
    {
        lock (_gate)
        {
            return _lines.Where(l => l.Sequence > after).ToList();
        }
    }
}

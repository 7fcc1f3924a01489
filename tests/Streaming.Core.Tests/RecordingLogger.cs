using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.Streaming.Tests;

/// <summary>A logger that keeps what it was given, so tests can wait for and assert on log events.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly ConcurrentQueue<(EventId Id, LogLevel Level, string Message, Exception? Exception)> _entries = new();

    public IReadOnlyList<(EventId Id, LogLevel Level, string Message, Exception? Exception)> Entries => [.. _entries];

    public bool Has(int eventId) => _entries.Any(e => e.Id.Id == eventId);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        => _entries.Enqueue((eventId, logLevel, formatter(state, exception), exception));
}

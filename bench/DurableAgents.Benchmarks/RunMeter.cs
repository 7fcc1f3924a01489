using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using AgentStreaming.DurableAgents.Diagnostics;

namespace AgentStreaming.DurableAgents.Benchmarks;

/// <summary>Listens to the runtime's own metrics: runs ended (to wait for a drain) and the grain-side time to first chunk.</summary>
internal sealed class RunMeter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly object _gate = new();
    private readonly List<(long Target, TaskCompletionSource Done)> _waiters = [];
    private long _ended;

    public RunMeter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == DurableAgentsDiagnostics.Name
                && instrument.Name is DurableAgentsDiagnostics.Runs or DurableAgentsDiagnostics.TimeToFirstChunk)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == DurableAgentsDiagnostics.Runs)
            {
                OnEnded(value);
            }
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            if (instrument.Name == DurableAgentsDiagnostics.TimeToFirstChunk)
            {
                FirstChunkSeconds.Add(value);
            }
        });
        _listener.Start();
    }

    /// <summary>Grain-side time from an attempt's start to its first update (the model's first output), in seconds.</summary>
    public ConcurrentBag<double> FirstChunkSeconds { get; } = [];

    public long Ended => Interlocked.Read(ref _ended);

    /// <summary>Completes when <paramref name="count"/> runs in all have ended.</summary>
    public Task WaitForEndedAsync(long count)
    {
        lock (_gate)
        {
            if (_ended >= count)
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, done));
            return done.Task;
        }
    }

    public void Dispose() => _listener.Dispose();

    private void OnEnded(long value)
    {
        lock (_gate)
        {
            _ended += value;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Target <= _ended)
                {
                    _waiters[i].Done.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }
}

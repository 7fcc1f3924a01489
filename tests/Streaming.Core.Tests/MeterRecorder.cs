using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using AgentStreaming.Streaming.Diagnostics;

namespace AgentStreaming.Streaming.Tests;

/// <summary>
/// Listens to instruments of the streaming meter (<see cref="StreamingDiagnostics.Name"/>) and sums what they record.
/// The meter is process-wide: other tests running meanwhile add to the sums, so assert lower bounds.
/// </summary>
internal sealed class MeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, (double Sum, long Count)> _recorded = new();

    public MeterRecorder(params string[] instruments)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == StreamingDiagnostics.Name && instruments.Contains(instrument.Name))
            {
                Units[instrument.Name] = instrument.Unit;
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => Add(instrument.Name, value));
        _listener.SetMeasurementEventCallback<int>((instrument, value, _, _) => Add(instrument.Name, value));
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => Add(instrument.Name, value));
        _listener.Start();
    }

    /// <summary>The unit of each instrument listened to.</summary>
    public ConcurrentDictionary<string, string?> Units { get; } = new();

    /// <summary>The measurements of an instrument so far.</summary>
    public long Count(string instrument) => _recorded.TryGetValue(instrument, out var r) ? r.Count : 0;

    public void Dispose() => _listener.Dispose();

    private void Add(string name, double value) => _recorded.AddOrUpdate(name, (value, 1), (_, r) => (r.Sum + value, r.Count + 1));
}

using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace AgentStreaming.Benchmarks;

/// <summary>
/// <c>--allocations</c>: the runtime's allocation sampling (<c>GCAllocationTick</c>, one event per ~100 KB allocated)
/// in this process, summed by type, to find what the code under test allocates per chunk.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly ConcurrentDictionary<string, long> _bytes = new(StringComparer.Ordinal);

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is not { } name || !name.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null)
        {
            return;
        }

        var type = e.PayloadNames.IndexOf("TypeName") is var t and >= 0 ? e.Payload![t] as string ?? "?" : "?";
        var amount = e.PayloadNames.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(e.Payload![a], CultureInfo.InvariantCulture) : 0;
        _bytes.AddOrUpdate(type, amount, (_, sum) => sum + amount);
    }

    /// <summary>The types that took the most sampled bytes, with their share.</summary>
    public IEnumerable<string> Top(int count)
    {
        var total = Math.Max(1, _bytes.Values.Sum());
        return _bytes.OrderByDescending(p => p.Value).Take(count)
            .Select(p => string.Create(CultureInfo.InvariantCulture, $"{100.0 * p.Value / total,5:0.0}%  {p.Value / 1_048_576.0,8:0.0} MiB  {p.Key}"));
    }
}

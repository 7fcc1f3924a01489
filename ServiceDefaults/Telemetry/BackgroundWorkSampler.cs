using System.Diagnostics;
using OpenTelemetry.Trace;

namespace AgentStreaming.ServiceDefaults.Telemetry;

/// <summary>
/// The root sampler of the service defaults: a trace that periodic background work would start (a lease renewal, a
/// recovery scan, a health probe's Redis <c>PING</c>) is dropped unless <see cref="TraceBackgroundWork"/> is on;
/// every other trace is kept. Wrapped in a <see cref="ParentBasedSampler"/>, so spans with a parent follow it.
/// </summary>
/// <remarks>
/// Background work is recognised without any knowledge of the services: a Redis command that has no parent span.
/// A request's commands run under its span (an HTTP request, a grain call, a run); only work that no caller started
/// (a timer, a <c>BackgroundService</c> loop, the write pump's shared calls) issues them outside every trace. Such
/// work keeps its metrics and logs either way.
/// </remarks>
public sealed class BackgroundWorkSampler : Sampler
{
    private static readonly SamplingResult Keep = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    /// <summary>Creates the sampler.</summary>
    /// <param name="traceBackgroundWork">Whether traces of background work are kept (for debugging).</param>
    public BackgroundWorkSampler(bool traceBackgroundWork)
    {
        TraceBackgroundWork = traceBackgroundWork;
        Description = traceBackgroundWork ? "BackgroundWorkSampler{traced}" : "BackgroundWorkSampler{dropped}";
    }

    /// <summary>Whether traces of background work are kept.</summary>
    public bool TraceBackgroundWork { get; }

    /// <inheritdoc />
    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
        => TraceBackgroundWork || !IsBackgroundRoot(samplingParameters) ? Keep : Drop;

    /// <summary>Whether a root span is background work: a Redis command with no parent (Redis tracing names the system when it starts the span).</summary>
    /// <param name="parameters">The span about to start.</param>
    /// <returns><see langword="true"/> for background work.</returns>
    internal static bool IsBackgroundRoot(in SamplingParameters parameters)
    {
        if (parameters.ParentContext.TraceId != default || parameters.Kind != ActivityKind.Client || parameters.Tags is null)
        {
            return false;
        }

        foreach (var tag in parameters.Tags)
        {
            if (tag.Key is "db.system" or "db.system.name" && tag.Value is "redis")
            {
                return true;
            }
        }

        return false;
    }
}

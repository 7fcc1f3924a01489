using System.Diagnostics.Metrics;

namespace AgentStreaming.Worker.Api;

/// <summary>Telemetry names of the HTTP API.</summary>
internal static class AgentApiDiagnostics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "AgentStreaming.Worker.Api";

    public static readonly Meter Meter = new(MeterName);

    /// <summary>Runs started through the API.</summary>
    public static readonly Counter<long> RunsStarted = Meter.CreateCounter<long>("agent_api.runs.started", "{run}", "Runs started through the HTTP API.");

    /// <summary>Open stream responses.</summary>
    public static readonly UpDownCounter<long> ActiveStreams = Meter.CreateUpDownCounter<long>("agent_api.streams.active", "{connection}", "Open SSE and text/plain stream responses.");

    /// <summary>Events sent on stream responses.</summary>
    public static readonly Counter<long> EventsSent = Meter.CreateCounter<long>("agent_api.stream.events", "{event}", "Stream entries sent to HTTP clients.");
}

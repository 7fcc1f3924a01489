namespace AgentStreaming.AppHost.Otlp;

/// <summary>A span as stored by the dashboard.</summary>
public sealed record SpanRecord(
    string TraceId,
    string SpanId,
    string? ParentSpanId,
    string Name,
    string Kind,
    string Service,
    string? Instance,
    string Scope,
    DateTimeOffset Start,
    DateTimeOffset End,
    string Status,
    string? StatusMessage,
    IReadOnlyDictionary<string, string> Attributes,
    IReadOnlyList<SpanEventRecord> Events)
{
    /// <summary>The span's duration.</summary>
    public TimeSpan Duration => End - Start;
}

/// <summary>An event of a span.</summary>
public sealed record SpanEventRecord(string Name, DateTimeOffset Time, IReadOnlyDictionary<string, string> Attributes);

/// <summary>A log record as stored by the dashboard.</summary>
public sealed record LogRecordView(
    long Sequence,
    DateTimeOffset Time,
    string Service,
    string? Instance,
    int SeverityNumber,
    string Level,
    string Category,
    string Message,
    string? TraceId,
    string? SpanId,
    IReadOnlyDictionary<string, string> Attributes);

/// <summary>One point of a metric series.</summary>
public sealed record MetricPoint(DateTimeOffset Time, double Value, long? Count = null, double? Sum = null);

/// <summary>A metric series: one metric of one service with one set of attributes.</summary>
public sealed record MetricSeries(string Name, string Unit, string Description, string Type, string Service, IReadOnlyDictionary<string, string> Attributes)
{
    private readonly List<MetricPoint> _points = [];

    /// <summary>The points, oldest first (bounded).</summary>
    public IReadOnlyList<MetricPoint> Points
    {
        get
        {
            lock (_points)
            {
                return [.. _points];
            }
        }
    }

    internal void Add(MetricPoint point, int capacity)
    {
        lock (_points)
        {
            if (_points.Count > 0 && _points[^1].Time == point.Time)
            {
                _points[^1] = point;
                return;
            }

            _points.Add(point);
            if (_points.Count > capacity)
            {
                _points.RemoveAt(0);
            }
        }
    }
}

/// <summary>Limits of the in-memory telemetry store (oldest data dropped first). Bound from <c>Dashboard:Telemetry</c>.</summary>
public sealed class TelemetryLimits
{
    /// <summary>Spans kept. Default 20,000.</summary>
    public int MaxSpans { get; set; } = 20_000;

    /// <summary>Log records kept. Default 20,000.</summary>
    public int MaxLogs { get; set; } = 20_000;

    /// <summary>Points kept per metric series. Default 720.</summary>
    public int MaxPointsPerSeries { get; set; } = 720;

    /// <summary>Metric series kept. Default 2,000.</summary>
    public int MaxSeries { get; set; } = 2_000;

    /// <summary>The largest accepted OTLP request body, in bytes. Default 4 MiB.</summary>
    public int MaxRequestBytes { get; set; } = 4 * 1024 * 1024;
}

using System.Collections.Concurrent;
using System.Globalization;
using AgentStreaming.AppHost.Otlp.Proto.Collector.Logs;
using AgentStreaming.AppHost.Otlp.Proto.Collector.Metrics;
using AgentStreaming.AppHost.Otlp.Proto.Collector.Trace;
using AgentStreaming.AppHost.Otlp.Proto.Common;
using Google.Protobuf;
using Google.Protobuf.Collections;

namespace AgentStreaming.AppHost.Otlp;

/// <summary>Bounded in-memory storage of the traces, logs and metrics services send over OTLP.</summary>
public sealed class TelemetryStore
{
    private readonly TelemetryLimits _limits;
    private readonly object _gate = new();
    private readonly LinkedList<SpanRecord> _spans = new();
    private readonly LinkedList<LogRecordView> _logs = new();
    private readonly ConcurrentDictionary<string, MetricSeries> _series = new(StringComparer.Ordinal);
    private long _logSequence;
    private long _rejected;
    private long _version;

    /// <summary>Creates the store.</summary>
    /// <param name="limits">Its limits.</param>
    public TelemetryStore(TelemetryLimits limits) => _limits = limits;

    /// <summary>The limits.</summary>
    public TelemetryLimits Limits => _limits;

    /// <summary>OTLP requests rejected (malformed, oversized, wrong content type).</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Increases on every change; lets pages poll or stream cheaply.</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>Raised after new telemetry was stored.</summary>
    public event Action? Changed;

    internal void CountRejected() => Interlocked.Increment(ref _rejected);

    /// <summary>Stores the spans of an export request.</summary>
    /// <param name="request">The request.</param>
    /// <returns>The number of spans stored.</returns>
    public int Add(ExportTraceServiceRequest request)
    {
        var added = new List<SpanRecord>();
        foreach (var resourceSpans in request.ResourceSpans)
        {
            var (service, instance) = ServiceOf(resourceSpans.Resource?.Attributes);
            foreach (var scopeSpans in resourceSpans.ScopeSpans)
            {
                var scope = scopeSpans.Scope?.Name ?? string.Empty;
                foreach (var span in scopeSpans.Spans)
                {
                    added.Add(new SpanRecord(
                        Hex(span.TraceId),
                        Hex(span.SpanId),
                        span.ParentSpanId.IsEmpty ? null : Hex(span.ParentSpanId),
                        span.Name,
                        span.Kind.ToString().Replace("SpanKind", string.Empty, StringComparison.Ordinal),
                        service,
                        instance,
                        scope,
                        FromNanos(span.StartTimeUnixNano),
                        FromNanos(span.EndTimeUnixNano),
                        span.Status?.Code.ToString().Replace("StatusCode", string.Empty, StringComparison.Ordinal) ?? "Unset",
                        string.IsNullOrEmpty(span.Status?.Message) ? null : span.Status.Message,
                        Attributes(span.Attributes),
                        span.Events.Select(e => new SpanEventRecord(e.Name, FromNanos(e.TimeUnixNano), Attributes(e.Attributes))).ToList()));
                }
            }
        }

        lock (_gate)
        {
            foreach (var span in added)
            {
                _spans.AddLast(span);
            }

            while (_spans.Count > _limits.MaxSpans)
            {
                _spans.RemoveFirst();
            }
        }

        OnChanged();
        return added.Count;
    }

    /// <summary>Stores the log records of an export request.</summary>
    /// <param name="request">The request.</param>
    /// <returns>The number of records stored.</returns>
    public int Add(ExportLogsServiceRequest request)
    {
        var count = 0;
        lock (_gate)
        {
            foreach (var resourceLogs in request.ResourceLogs)
            {
                var (service, instance) = ServiceOf(resourceLogs.Resource?.Attributes);
                foreach (var scopeLogs in resourceLogs.ScopeLogs)
                {
                    foreach (var record in scopeLogs.LogRecords)
                    {
                        var time = record.TimeUnixNano != 0 ? record.TimeUnixNano : record.ObservedTimeUnixNano;
                        var category = scopeLogs.Scope?.Name is { Length: > 0 } name ? name : record.EventName;
                        _logs.AddLast(new LogRecordView(
                            ++_logSequence,
                            FromNanos(time),
                            service,
                            instance,
                            record.SeverityNumber,
                            Level(record.SeverityNumber, record.SeverityText),
                            category ?? string.Empty,
                            record.Body is null ? string.Empty : Text(record.Body),
                            record.TraceId.IsEmpty ? null : Hex(record.TraceId),
                            record.SpanId.IsEmpty ? null : Hex(record.SpanId),
                            Attributes(record.Attributes)));
                        count++;
                    }
                }
            }

            while (_logs.Count > _limits.MaxLogs)
            {
                _logs.RemoveFirst();
            }
        }

        OnChanged();
        return count;
    }

    /// <summary>Stores the data points of an export request.</summary>
    /// <param name="request">The request.</param>
    /// <returns>The number of points stored.</returns>
    public int Add(ExportMetricsServiceRequest request)
    {
        var count = 0;
        foreach (var resourceMetrics in request.ResourceMetrics)
        {
            var (service, instance) = ServiceOf(resourceMetrics.Resource?.Attributes);
            foreach (var scopeMetrics in resourceMetrics.ScopeMetrics)
            {
                foreach (var metric in scopeMetrics.Metrics)
                {
                    switch (metric.DataCase)
                    {
                        case Proto.Metrics.Metric.DataOneofCase.Gauge:
                            foreach (var point in metric.Gauge.DataPoints)
                            {
                                count += AddPoint(metric, "gauge", service, instance, point.Attributes, new MetricPoint(FromNanos(point.TimeUnixNano), Number(point)));
                            }

                            break;
                        case Proto.Metrics.Metric.DataOneofCase.Sum:
                            foreach (var point in metric.Sum.DataPoints)
                            {
                                count += AddPoint(metric, metric.Sum.IsMonotonic ? "counter" : "updowncounter", service, instance, point.Attributes, new MetricPoint(FromNanos(point.TimeUnixNano), Number(point)));
                            }

                            break;
                        case Proto.Metrics.Metric.DataOneofCase.Histogram:
                            foreach (var point in metric.Histogram.DataPoints)
                            {
                                var mean = point.Count == 0 ? 0 : (point.HasSum ? point.Sum : 0) / point.Count;
                                count += AddPoint(metric, "histogram", service, instance, point.Attributes, new MetricPoint(FromNanos(point.TimeUnixNano), mean, (long)point.Count, point.HasSum ? point.Sum : null));
                            }

                            break;
                        default:
                            break;
                    }
                }
            }
        }

        OnChanged();
        return count;
    }

    /// <summary>The stored spans, oldest first.</summary>
    /// <returns>The spans.</returns>
    public IReadOnlyList<SpanRecord> Spans()
    {
        lock (_gate)
        {
            return [.. _spans];
        }
    }

    /// <summary>The spans of one trace, by start time.</summary>
    /// <param name="traceId">The trace id (hex).</param>
    /// <returns>The spans.</returns>
    public IReadOnlyList<SpanRecord> Trace(string traceId)
    {
        lock (_gate)
        {
            return _spans.Where(s => s.TraceId.Equals(traceId, StringComparison.OrdinalIgnoreCase)).OrderBy(s => s.Start).ToList();
        }
    }

    /// <summary>The stored log records, oldest first.</summary>
    /// <returns>The records.</returns>
    public IReadOnlyList<LogRecordView> Logs()
    {
        lock (_gate)
        {
            return [.. _logs];
        }
    }

    /// <summary>The metric series.</summary>
    /// <returns>The series.</returns>
    public IReadOnlyList<MetricSeries> Metrics() => [.. _series.Values];

    private int AddPoint(Proto.Metrics.Metric metric, string type, string service, string? instance, RepeatedField<KeyValue> attributes, MetricPoint point)
    {
        var attrs = Attributes(attributes);
        if (instance is not null)
        {
            // Cumulative values of two replicas must not interleave in one series.
            attrs["service.instance.id"] = instance;
        }

        var key = service + "|" + metric.Name + "|" + string.Join(',', attrs.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => a.Key + "=" + a.Value));
        if (!_series.TryGetValue(key, out var series))
        {
            if (_series.Count >= _limits.MaxSeries)
            {
                return 0;
            }

            series = _series.GetOrAdd(key, _ => new MetricSeries(metric.Name, metric.Unit, metric.Description, type, service, attrs));
        }

        series.Add(point, _limits.MaxPointsPerSeries);
        return 1;
    }

    private void OnChanged()
    {
        Interlocked.Increment(ref _version);
        Changed?.Invoke();
    }

    private static double Number(Proto.Metrics.NumberDataPoint point)
        => point.ValueCase == Proto.Metrics.NumberDataPoint.ValueOneofCase.AsInt ? point.AsInt : point.AsDouble;

    private static (string Service, string? Instance) ServiceOf(RepeatedField<KeyValue>? attributes)
    {
        string? service = null;
        string? instance = null;
        if (attributes is not null)
        {
            foreach (var attribute in attributes)
            {
                if (attribute.Key == "service.name")
                {
                    service = Text(attribute.Value);
                }
                else if (attribute.Key == "service.instance.id")
                {
                    instance = Text(attribute.Value);
                }
            }
        }

        return (service ?? "unknown", instance);
    }

    private static Dictionary<string, string> Attributes(RepeatedField<KeyValue> attributes)
    {
        var result = new Dictionary<string, string>(attributes.Count, StringComparer.Ordinal);
        foreach (var attribute in attributes)
        {
            result[attribute.Key] = attribute.Value is null ? string.Empty : Text(attribute.Value);
        }

        return result;
    }

    private static string Text(AnyValue value) => value.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString(CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.ArrayValue => "[" + string.Join(", ", value.ArrayValue.Values.Select(Text)) + "]",
        AnyValue.ValueOneofCase.KvlistValue => "{" + string.Join(", ", value.KvlistValue.Values.Select(kv => kv.Key + ": " + (kv.Value is null ? string.Empty : Text(kv.Value)))) + "}",
        AnyValue.ValueOneofCase.BytesValue => Convert.ToBase64String(value.BytesValue.Span),
        _ => string.Empty,
    };

    private static string Level(int severity, string text) => severity switch
    {
        >= 21 => "Critical",
        >= 17 => "Error",
        >= 13 => "Warning",
        >= 9 => "Information",
        >= 5 => "Debug",
        >= 1 => "Trace",
        _ => string.IsNullOrEmpty(text) ? "Unspecified" : text,
    };

    private static string Hex(ByteString bytes) => Convert.ToHexStringLower(bytes.Span);

    private static DateTimeOffset FromNanos(ulong nanos) => DateTimeOffset.UnixEpoch.AddTicks((long)(nanos / 100));
}

using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace AgentStreaming.Dashboard.Tests;

/// <summary>The real .NET OTLP exporter (http/protobuf) against the dashboard's receiver and JSON API.</summary>
public sealed class OtlpReceiverTests
{
    private const string ServiceName = "otlp-test";

    [Fact]
    public async Task TracesFromTheOtlpExporter_AreQueryableByTraceWithAttributesAndParents()
    {
        await using var dashboard = await DashboardOnly.StartAsync();
        using var source = new ActivitySource(NewName("traces"));
        string traceId;
        using (var tracing = TracerProvider(dashboard, source.Name))
        {
            using (var parent = source.StartActivity("client request", ActivityKind.Client))
            {
                traceId = parent!.TraceId.ToHexString();
                parent.SetTag("agent_streaming.run.id", "run-1");
                using var child = source.StartActivity("agent_stream append");
                child!.SetStatus(ActivityStatusCode.Error, "boom");
                child.AddEvent(new ActivityEvent("retry"));
            }

            Assert.True(tracing.ForceFlush(10_000));
        }

        var traces = await GetJsonAsync(dashboard, "/api/traces");
        var summary = traces.EnumerateArray().Single(t => t.GetProperty("traceId").GetString() == traceId);
        Assert.Equal($"{ServiceName}: client request", summary.GetProperty("name").GetString());
        Assert.Equal(2, summary.GetProperty("spans").GetInt32());
        Assert.Equal(1, summary.GetProperty("errors").GetInt32());
        Assert.Equal([ServiceName], summary.GetProperty("services").EnumerateArray().Select(s => s.GetString()));

        var spans = (await GetJsonAsync(dashboard, $"/api/traces/{traceId}")).EnumerateArray().ToList();
        var root = spans.Single(s => s.GetProperty("name").GetString() == "client request");
        var append = spans.Single(s => s.GetProperty("name").GetString() == "agent_stream append");
        Assert.Equal("Client", root.GetProperty("kind").GetString());
        Assert.Equal("run-1", root.GetProperty("attributes").GetProperty("agent_streaming.run.id").GetString());
        Assert.Equal(root.GetProperty("spanId").GetString(), append.GetProperty("parentSpanId").GetString());
        Assert.Equal("Error", append.GetProperty("status").GetString());
        Assert.Equal("boom", append.GetProperty("statusMessage").GetString());
        Assert.Equal("retry", append.GetProperty("events")[0].GetProperty("name").GetString());

        var searched = await GetJsonAsync(dashboard, "/api/traces?search=run-1");
        Assert.Contains(searched.EnumerateArray(), t => t.GetProperty("traceId").GetString() == traceId);
    }

    [Fact]
    public async Task LogsFromTheOtlpExporter_AreFilteredByResourceLevelTextAndTraceId()
    {
        await using var dashboard = await DashboardOnly.StartAsync();
        using var source = new ActivitySource(NewName("logs"));
        using var listener = ListenTo(source.Name);
        string traceId;
        using (var factory = LoggerFactory.Create(logging => logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(ServiceName, serviceInstanceId: "otlp-test-1"));
            o.AddOtlpExporter(e => Configure(e, dashboard, "/v1/logs"));
        })))
        {
            var logger = factory.CreateLogger("Dashboard.Tests.Category");
            using (var activity = source.StartActivity("with logs"))
            {
                traceId = activity!.TraceId.ToHexString();
                logger.LogWarning("Run {RunId} retried after a <b>crash</b>", "run-7");
            }

            logger.LogInformation("Unrelated information");
        }

        var byTrace = (await GetJsonAsync(dashboard, $"/api/logs?traceId={traceId}")).EnumerateArray().ToList();
        var entry = Assert.Single(byTrace);
        Assert.Equal("Warning", entry.GetProperty("level").GetString());
        Assert.Equal(ServiceName, entry.GetProperty("service").GetString());
        Assert.Equal("otlp-test-1", entry.GetProperty("instance").GetString());
        Assert.Equal("Dashboard.Tests.Category", entry.GetProperty("category").GetString());
        Assert.Equal("run-7", entry.GetProperty("attributes").GetProperty("RunId").GetString());

        Assert.Single((await GetJsonAsync(dashboard, "/api/logs?level=warning")).EnumerateArray());
        Assert.Equal(2, (await GetJsonAsync(dashboard, $"/api/logs?resource={ServiceName}")).GetArrayLength());
        Assert.Equal(2, (await GetJsonAsync(dashboard, "/api/logs?resource=otlp-test-1")).GetArrayLength());
        Assert.Empty((await GetJsonAsync(dashboard, "/api/logs?resource=worker")).EnumerateArray());
        Assert.Single((await GetJsonAsync(dashboard, "/api/logs?text=unrelated")).EnumerateArray());
    }

    [Fact]
    public async Task MetricsFromTheOtlpExporter_AreSeriesPerAttributesWithHistogramCountsAndSums()
    {
        await using var dashboard = await DashboardOnly.StartAsync();
        using var meter = new Meter(NewName("metrics"));
        var runs = meter.CreateCounter<long>("agent_streaming.runs", "{run}");
        var firstChunk = meter.CreateHistogram<double>("agent_streaming.run.time_to_first_chunk", "s");
        using (var metrics = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(ServiceName))
            .AddMeter(meter.Name)
            .AddOtlpExporter((e, reader) =>
            {
                Configure(e, dashboard, "/v1/metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 3_600_000;
            })
            .Build())
        {
            runs.Add(2, new KeyValuePair<string, object?>("agent_streaming.run.outcome", "completed"));
            runs.Add(1, new KeyValuePair<string, object?>("agent_streaming.run.outcome", "failed"));
            firstChunk.Record(0.2);
            firstChunk.Record(0.4);
            Assert.True(metrics.ForceFlush(10_000));
        }

        var series = (await GetJsonAsync(dashboard, "/api/metrics?name=agent_streaming.runs")).EnumerateArray().ToList();
        Assert.Equal(2, series.Count);
        var completed = series.Single(s => s.GetProperty("attributes").GetProperty("agent_streaming.run.outcome").GetString() == "completed");
        Assert.Equal("counter", completed.GetProperty("type").GetString());
        Assert.Equal("{run}", completed.GetProperty("unit").GetString());
        Assert.Equal(2, completed.GetProperty("points").EnumerateArray().Last().GetProperty("value").GetDouble());

        var histogram = Assert.Single((await GetJsonAsync(dashboard, "/api/metrics?name=agent_streaming.run.time_to_first_chunk")).EnumerateArray());
        var point = histogram.GetProperty("points").EnumerateArray().Last();
        Assert.Equal(2, point.GetProperty("count").GetInt64());
        Assert.Equal(0.6, point.GetProperty("sum").GetDouble(), 6);
        Assert.Equal(0.3, point.GetProperty("value").GetDouble(), 6);

        var names = (await GetJsonAsync(dashboard, "/api/metrics/names")).EnumerateArray().Select(n => n.GetProperty("name").GetString()).ToList();
        Assert.Contains("agent_streaming.runs", names);
        Assert.Contains("agent_streaming.run.time_to_first_chunk", names);
    }

    [Fact]
    public async Task BadPayloads_Get400Or413Or415_AreCounted_AndLeaveStoredDataAlone()
    {
        await using var dashboard = await DashboardOnly.StartAsync(new Dictionary<string, string?> { ["Dashboard:Telemetry:MaxRequestBytes"] = "65536" });
        using var source = new ActivitySource(NewName("bad"));
        using (var tracing = TracerProvider(dashboard, source.Name))
        {
            source.StartActivity("kept")!.Dispose();
            Assert.True(tracing.ForceFlush(10_000));
        }

        var before = await GetJsonAsync(dashboard, "/api/telemetry/stats");
        Assert.Equal(1, before.GetProperty("spans").GetInt32());

        // A length-delimited field that claims 16 bytes and has none: truncated protobuf.
        Assert.Equal(HttpStatusCode.BadRequest, await PostAsync(dashboard, "/v1/traces", [0x0A, 0x10], "application/x-protobuf"));
        // Wire type 7 does not exist.
        Assert.Equal(HttpStatusCode.BadRequest, await PostAsync(dashboard, "/v1/logs", [0x0F, 0x01, 0x02], "application/x-protobuf"));
        // Claims gzip, is not.
        Assert.Equal(HttpStatusCode.BadRequest, await PostAsync(dashboard, "/v1/metrics", [1, 2, 3, 4, 5], "application/x-protobuf", gzip: true));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, await PostAsync(dashboard, "/v1/traces", "{\"resourceSpans\":[]}"u8.ToArray(), "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostAsync(dashboard, "/v1/traces", new byte[100_000], "application/x-protobuf"));
        // Without Content-Length (chunked), the limit still holds while reading.
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostAsync(dashboard, "/v1/traces", new byte[100_000], "application/x-protobuf", chunked: true));
        // A gzip bomb: small on the wire, over the limit once decompressed.
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostAsync(dashboard, "/v1/logs", Gzip(new byte[1_000_000]), "application/x-protobuf", gzip: true));

        var after = await GetJsonAsync(dashboard, "/api/telemetry/stats");
        Assert.Equal(1, after.GetProperty("spans").GetInt32());
        Assert.Equal(0, after.GetProperty("logs").GetInt32());
        Assert.Equal(0, after.GetProperty("series").GetInt32());
        Assert.Equal(before.GetProperty("rejected").GetInt64() + 7, after.GetProperty("rejected").GetInt64());
        Assert.Equal("kept", (await GetJsonAsync(dashboard, "/api/traces"))[0].GetProperty("name").GetString()!.Split(": ")[1]);
    }

    [Fact]
    public async Task Limits_DropTheOldestSpansAndLogsFirst()
    {
        await using var dashboard = await DashboardOnly.StartAsync(new Dictionary<string, string?>
        {
            ["Dashboard:Telemetry:MaxSpans"] = "5",
            ["Dashboard:Telemetry:MaxLogs"] = "3",
        });
        using var source = new ActivitySource(NewName("limits"));
        using (var tracing = TracerProvider(dashboard, source.Name))
        {
            for (var i = 0; i < 8; i++)
            {
                source.StartActivity($"span-{i}")!.Dispose();
                // One export per span, so arrival order is creation order.
                Assert.True(tracing.ForceFlush(10_000));
            }
        }

        using (var factory = LoggerFactory.Create(logging => logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(ServiceName));
            o.AddOtlpExporter(e => Configure(e, dashboard, "/v1/logs"));
        })))
        {
            var logger = factory.CreateLogger("Limits");
            string[] indexes = ["0", "1", "2", "3", "4", "5"];
            foreach (var index in indexes)
            {
                if (logger.IsEnabled(LogLevel.Information))
                {
                    logger.LogInformation("log-{Index}", index);
                }
            }
        }

        var spans = (await GetJsonAsync(dashboard, "/api/traces")).EnumerateArray().Select(t => t.GetProperty("name").GetString()!.Split(": ")[1]).Order(StringComparer.Ordinal);
        Assert.Equal(["span-3", "span-4", "span-5", "span-6", "span-7"], spans);
        var logs = (await GetJsonAsync(dashboard, "/api/logs")).EnumerateArray().Select(l => l.GetProperty("message").GetString());
        Assert.Equal(["log-3", "log-4", "log-5"], logs);
    }

    [Fact]
    public async Task Actions_NeedTheDashboardHeader_AndForeignHostNamesAreRefused()
    {
        await using var dashboard = await DashboardOnly.StartAsync();
        using var noHeader = await dashboard.Http.PostAsync("/api/resources/redis/restart", null);
        Assert.Equal(HttpStatusCode.Forbidden, noHeader.StatusCode);

        using var rebinding = new HttpRequestMessage(HttpMethod.Get, "/api/resources");
        rebinding.Headers.Host = "attacker.example";
        using var refused = await dashboard.Http.SendAsync(rebinding);
        Assert.Equal(HttpStatusCode.MisdirectedRequest, refused.StatusCode);

        using var page = await dashboard.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Contains("app.js", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static string NewName(string what) => $"Dashboard.Tests.{what}.{Guid.NewGuid():N}";

    private static TracerProvider TracerProvider(DashboardOnly dashboard, string source) => Sdk.CreateTracerProviderBuilder()
        .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(ServiceName))
        .AddSource(source)
        .AddOtlpExporter(e => Configure(e, dashboard, "/v1/traces"))
        .Build();

    private static void Configure(OtlpExporterOptions options, DashboardOnly dashboard, string path)
    {
        options.Protocol = OtlpExportProtocol.HttpProtobuf;
        options.Endpoint = new Uri(dashboard.Url, path);
        options.ExportProcessorType = ExportProcessorType.Simple;
    }

    private static ActivityListener ListenTo(string source)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    private static async Task<JsonElement> GetJsonAsync(DashboardOnly dashboard, string path)
    {
        using var response = await dashboard.Http.GetAsync(path);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static async Task<HttpStatusCode> PostAsync(DashboardOnly dashboard, string path, byte[] body, string contentType, bool gzip = false, bool chunked = false)
    {
        HttpContent content = chunked ? new StreamContent(new NonSeekableStream(body)) : new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (gzip)
        {
            content.Headers.ContentEncoding.Add("gzip");
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        if (chunked)
        {
            request.Headers.TransferEncodingChunked = true;
        }

        using var response = await dashboard.Http.SendAsync(request);
        return response.StatusCode;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Optimal))
        {
            gzip.Write(data);
        }

        return buffer.ToArray();
    }

    /// <summary>A stream with no length, so HttpClient sends it chunked.</summary>
    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.DurableAgents.Diagnostics;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Streams;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>
/// A run's telemetry through the OpenTelemetry SDK (in-memory exporter): one trace from the client's call through the
/// attempt's span and the Agent Framework's <c>invoke_agent</c> span to the model calls, the tool calls and the stream's
/// claim and terminal batch; a demo-sized run in a few dozen spans with the services' own telemetry setup (service
/// defaults, Aspire's Redis tracing); and the run metrics.
/// </summary>
/// <remarks>
/// The tests of this class run one at a time: an OpenTelemetry listener is process-wide, so two tracer providers of
/// two tests would see each other's spans.
/// </remarks>
public sealed class TelemetryTests(AppendOnlyRedisServerFixture redis)
{
    private const string RedisSource = "OpenTelemetry.Instrumentation.StackExchangeRedis";

    [Fact]
    public async Task ARun_IsOneTrace_ClientAttemptAgentModelToolsAndStreamClaimAndEnd()
    {
        const string AgentName = "TelemetryAgent";
        using var capture = SdkCapture.Start(AgentName);
        var model = new ToolCallingChatClient(["It is ", "sunny ", "in Lisbon."]);
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient(), services => AddAgent(services, AgentName, model));
        var agent = cluster.Client.GetAgent(AgentName);
        var session = agent.NewSession();

        var result = await agent.StartRunAsync("Weather in Lisbon?", session);
        var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, result.RunId);
        var attemptSpan = await capture.AttemptEnded.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);
        Assert.Equal("It is sunny in Lisbon.", ConversationGrainTests.Text(chunks));
        var trace = capture.Trace(attemptSpan.TraceId);
        TestContext.Current.TestOutputHelper?.WriteLine(Tree(trace));

        // Client → attempt: the client's span and the attempt's span are one trace, the attempt a child of the client's.
        var clientSpan = Assert.Single(trace, s => s.DisplayName == $"run_agent {AgentName}");
        Assert.Equal(ActivityKind.Client, clientSpan.Kind);
        Assert.Equal(clientSpan.SpanId, attemptSpan.ParentSpanId);
        Assert.Equal(result.RunId, clientSpan.GetTagItem(DurableAgentsDiagnostics.Tags.RunId));

        // One attempt is one span, with the run's identity as attributes.
        Assert.Equal($"{DurableAgentsDiagnostics.RunAttemptActivityName} {AgentName}", attemptSpan.DisplayName);
        Assert.Equal(AgentName, attemptSpan.GetTagItem(DurableAgentsDiagnostics.Tags.AgentName));
        Assert.Equal(session.ConversationId, attemptSpan.GetTagItem(DurableAgentsDiagnostics.Tags.ConversationId));
        Assert.Equal(result.RunId, attemptSpan.GetTagItem(DurableAgentsDiagnostics.Tags.RunId));
        Assert.Equal(1, attemptSpan.GetTagItem(DurableAgentsDiagnostics.Tags.Attempt));
        Assert.Equal("completed", attemptSpan.GetTagItem(DurableAgentsDiagnostics.Tags.Outcome));

        // Under it, one invoke_agent span: the Agent Framework's, per the GenAI semantic conventions, without the
        // messages: their capture is off unless OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT is true (read once per
        // process, so "on" is checked by AppHost.Tests, where the AppHost turns it on for the Worker in Development).
        var invokeAgent = Assert.Single(trace, s => s.DisplayName.StartsWith("invoke_agent", StringComparison.Ordinal));
        Assert.Equal("Experimental.Microsoft.Agents.AI", invokeAgent.Source.Name);
        Assert.StartsWith($"invoke_agent {AgentName}", invokeAgent.DisplayName, StringComparison.Ordinal);
        Assert.Equal(attemptSpan.SpanId, invokeAgent.ParentSpanId);
        Assert.Equal("invoke_agent", invokeAgent.GetTagItem("gen_ai.operation.name"));
        Assert.Equal(AgentName, invokeAgent.GetTagItem("gen_ai.agent.name"));
        Assert.Equal(ToolCallingChatClient.ProviderName, invokeAgent.GetTagItem("gen_ai.provider.name"));
        Assert.DoesNotContain(invokeAgent.TagObjects, t => t.Value is string text && text.Contains("Lisbon", StringComparison.Ordinal));

        // Under the agent: the model calls (one asking for the tool, one answering) and the tool call.
        var modelCalls = trace.Where(s => s.DisplayName.StartsWith("chat", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, modelCalls.Count);
        var toolCall = Assert.Single(trace, s => s.DisplayName == "execute_tool get_weather");
        Assert.All(modelCalls.Append(toolCall), s => Assert.True(Descends(s, invokeAgent, trace), $"'{s.DisplayName}' is not under invoke_agent:\n{Tree(trace)}"));

        // The stream: the claim and the terminal batch are spans of the attempt; the batches between are summed up on the
        // terminal one.
        var appends = trace.Where(s => s.DisplayName == StreamingDiagnostics.AppendActivityName).OrderBy(s => s.StartTimeUtc).ToList();
        Assert.Equal(2, appends.Count);
        Assert.All(appends, s => Assert.Equal(attemptSpan.SpanId, s.ParentSpanId));
        Assert.All(appends, s => Assert.Equal(result.RunId, s.GetTagItem(StreamingDiagnostics.Tags.RunId)));
        Assert.Equal(1L, appends[0].GetTagItem(StreamingDiagnostics.Tags.BatchIndex));
        var terminal = appends[1];
        var batches = (long)terminal.GetTagItem(StreamingDiagnostics.Tags.Batches)!;
        Assert.True(batches >= 2, "batches");
        Assert.True((long)terminal.GetTagItem(StreamingDiagnostics.Tags.Entries)! >= chunks.Count, "entries");
        Assert.True((long)terminal.GetTagItem(StreamingDiagnostics.Tags.Bytes)! >= "It is sunny in Lisbon.".Length, "bytes");
        Assert.Equal(0L, terminal.GetTagItem(StreamingDiagnostics.Tags.Resends));
        Assert.All(trace.Where(s => s != clientSpan), s => Assert.True(Descends(s, attemptSpan, trace) || s == attemptSpan, $"'{s.DisplayName}' hangs outside the attempt's span:\n{Tree(trace)}"));

        // The trace context travels with the run: the stream's first entry carries it.
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString))
        {
            var first = Assert.Single(await connection.GetDatabase().StreamRangeAsync(result.StreamKey, count: 1));
            Assert.Equal(clientSpan.Id, (string?)first["traceparent"]);
        }

        // Metrics of the run.
        var recorded = capture.Metrics();
        var firstChunk = Points(recorded, DurableAgentsDiagnostics.TimeToFirstChunk, DurableAgentsDiagnostics.Tags.AgentName, AgentName);
        Assert.Equal(1, firstChunk.Sum(p => p.GetHistogramCount()));
        var chunkCount = Points(recorded, DurableAgentsDiagnostics.ChunksWritten, DurableAgentsDiagnostics.Tags.AgentName, AgentName);
        Assert.True(chunkCount.Sum(p => p.GetSumLong()) >= 3, "chunks written");
        var duration = Points(recorded, DurableAgentsDiagnostics.RunDuration, DurableAgentsDiagnostics.Tags.Outcome, "completed");
        Assert.True(duration.Sum(p => p.GetHistogramCount()) >= 1, "run duration");
        var runs = Points(recorded, DurableAgentsDiagnostics.Runs, DurableAgentsDiagnostics.Tags.Outcome, "completed");
        Assert.True(runs.Sum(p => p.GetSumLong()) >= 1, "runs by outcome");
        var accepted = Points(recorded, DurableAgentsDiagnostics.RunsAccepted, DurableAgentsDiagnostics.Tags.AgentName, AgentName);
        Assert.Equal(1, accepted.Sum(p => p.GetSumLong()));
        // Live runs: one while it ran, none now.
        var active = Points(recorded, DurableAgentsDiagnostics.ActiveRuns, DurableAgentsDiagnostics.Tags.AgentName, AgentName);
        Assert.Equal(0, active.Sum(p => p.GetSumLong()));
        // One attempt was enough: the histogram has one run with one attempt, and no re-run was counted.
        var attempts = Points(recorded, DurableAgentsDiagnostics.Attempts, DurableAgentsDiagnostics.Tags.AgentName, AgentName);
        Assert.Equal((1L, 1.0), (attempts.Sum(p => p.GetHistogramCount()), attempts.Sum(p => p.GetHistogramSum())));
        Assert.DoesNotContain(recorded, m => m.Name == DurableAgentsDiagnostics.Reattempts && m.MetricPoints.Any(p => HasTag(p, DurableAgentsDiagnostics.Tags.AgentName, AgentName)));
        Assert.Contains(recorded, m => m.Name == StreamingDiagnostics.EntriesWritten && m.Unit == "{entry}");
    }

    [Fact]
    public async Task AResume_IsASpanOfTheReadersTrace_LinkedToTheRunsTrace_AndTheReaderMetricsRecordIt()
    {
        const string AgentName = "ResumeAgent";
        using var capture = SdkCapture.Start(AgentName);
        var model = new ToolCallingChatClient(["Resumed ", "without ", "a ", "gap."]);
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient(), services => AddAgent(services, AgentName, model));
        var agent = cluster.Client.GetAgent(AgentName);
        var result = await agent.StartRunAsync("Weather in Porto?", agent.NewSession());
        var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, result.RunId);
        var runTrace = (await capture.AttemptEnded.WaitAsync(TimeSpan.FromSeconds(30))).TraceId;

        // A reader (its own request, its own trace) resumes after the second entry.
        using var source = new ActivitySource("AgentStreaming.Tests.Reader");
        List<DurableRunChunk> resumed = [];
        ActivityContext request;
        using (var reader = source.StartActivity("GET /runs/{runId}/stream", ActivityKind.Server))
        {
            request = reader!.Context;
            await foreach (var chunk in cluster.Client.StreamAsync(result.RunId, chunks[1].Cursor, TestContext.Current.CancellationToken))
            {
                resumed.Add(chunk);
            }
        }

        Assert.Equal(chunks.Skip(2).Select(c => c.Cursor), resumed.Select(c => c.Cursor));
        var resume = Assert.Single(capture.Trace(request.TraceId), s => s.OperationName == DurableAgentsDiagnostics.ResumeActivityName);
        Assert.Equal(ActivityKind.Consumer, resume.Kind);
        Assert.Equal(request.SpanId, resume.ParentSpanId);
        Assert.Equal(runTrace, Assert.Single(resume.Links).Context.TraceId);
        Assert.Equal(result.RunId, resume.GetTagItem(DurableAgentsDiagnostics.Tags.RunId));
        Assert.Equal(chunks[1].Cursor, resume.GetTagItem(DurableAgentsDiagnostics.Tags.Cursor));
        Assert.Equal(resumed.Count, resume.GetTagItem(DurableAgentsDiagnostics.Tags.EntriesDelivered));
        Assert.True(resume.Duration > TimeSpan.Zero);

        // A read from the start is no resume: no span.
        await ConversationGrainTests.ReadAllAsync(cluster.Client, result.RunId);
        Assert.Single(capture.All(), s => s.OperationName == DurableAgentsDiagnostics.ResumeActivityName);

        // The reader's metrics (process-wide, so counted at least this test's reads), with their units.
        var recorded = capture.Metrics();
        var resumeLatency = Assert.Single(recorded, m => m.Name == StreamingDiagnostics.ResumeDuration);
        Assert.Equal("s", resumeLatency.Unit);
        Assert.True(resumeLatency.MetricPoints.Sum(p => p.GetHistogramCount()) >= 1, "resume latency");
        var behind = Assert.Single(recorded, m => m.Name == StreamingDiagnostics.ReaderBehind);
        Assert.Equal("{entry}", behind.Unit);
        Assert.True(behind.MetricPoints.Sum(p => p.GetHistogramCount()) >= chunks.Count + resumed.Count, "entries behind, one per delivered entry");
        var lag = Assert.Single(recorded, m => m.Name == StreamingDiagnostics.ReaderLag);
        Assert.Equal("s", lag.Unit);
        Assert.True(lag.MetricPoints.Sum(p => p.GetHistogramCount()) >= chunks.Count + resumed.Count, "lag, one per delivered entry");
        Assert.All(lag.MetricPoints, p => Assert.True(p.GetHistogramSum() >= 0));
        Assert.Contains(recorded, m => m.Name == StreamingDiagnostics.EntriesDelivered && m.Unit == "{entry}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ADemoSizedRun_WithTheServiceDefaults_IsAFewDozenSpans_AndBackgroundWorkStartsNoTraceUnlessSwitchedOn(bool traceBackgroundWork)
    {
        const string AgentName = "DemoSizedAgent";
        var spans = new List<Activity>();
        var attemptEnded = new TaskCompletionSource<Activity>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Paced (5 ms a word, the offline demo model 25 ms) so the pump sends many calls, not a few large batches.
        var model = new ToolCallingChatClient([.. Enumerable.Range(0, 400).Select(i => $"word{i} ")], pace: TimeSpan.FromMilliseconds(5));
        var cluster = await OrleansCluster.StartAsync(
            redis.Server,
            new ScriptedChatClient(),
            services => AddAgent(services, AgentName, model),
            silo =>
            {
                // As the Worker's Program.cs: the service defaults' telemetry and Aspire's Redis client (with its tracing).
                silo.Configuration[ServiceDefaultsExtensions.TraceBackgroundWorkKey] = traceBackgroundWork ? "true" : "false";
                silo.ConfigureOpenTelemetry();
                silo.AddRedisClient("redis");
                silo.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing
                    .AddInMemoryExporter(spans)
                    .AddProcessor(new SignalOnEnd($"{DurableAgentsDiagnostics.RunAttemptActivityName} {AgentName}", span => attemptEnded.TrySetResult(span))));
            });
        string runId;
        try
        {
            var agent = cluster.Client.GetAgent(AgentName);
            var result = await agent.StartRunAsync("Plan a 3-day trip to Tokyo", agent.NewSession());
            runId = result.RunId;
            var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, result.RunId);
            Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);
            await attemptEnded.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            // Stopping the silo stops its tracer provider, which hands over the Redis spans it still holds.
            await cluster.DisposeAsync();
        }

        Activity[] all;
        lock (spans)
        {
            all = [.. spans];
        }

        var attemptSpan = all.Single(s => s.DisplayName == $"{DurableAgentsDiagnostics.RunAttemptActivityName} {AgentName}");
        var trace = all.Where(s => s.TraceId == attemptSpan.TraceId).ToArray();
        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"{trace.Length} spans in the run's trace:\n{Tree(trace)}");

        // The pump made many calls for the run, yet the trace reads on one screen: its Redis spans are the requests'
        // own commands, not one per pump call.
        var terminal = trace.Single(s => s.DisplayName == StreamingDiagnostics.AppendActivityName && s.GetTagItem(StreamingDiagnostics.Tags.Batches) is not null);
        var batches = (long)terminal.GetTagItem(StreamingDiagnostics.Tags.Batches)!;
        output?.WriteLine($"the attempt's batches: {batches}, entries: {terminal.GetTagItem(StreamingDiagnostics.Tags.Entries)}, bytes: {terminal.GetTagItem(StreamingDiagnostics.Tags.Bytes)}");
        // However many calls the pump made (fewer, larger ones when the machine is busy), none is a span of the trace.
        Assert.True(batches >= 10, $"Only {batches} batches: the model was not paced enough for the pump to send many calls.");
        Assert.DoesNotContain(trace, s => s.Source.Name == RedisSource && s.DisplayName.StartsWith("XADD", StringComparison.Ordinal));
        Assert.True(trace.Length < 60, $"{trace.Length} spans in the run's trace:\n{Tree(trace)}");
        Assert.Contains(trace, s => s.Source.Name == RedisSource);
        Assert.Single(trace, s => s.DisplayName.StartsWith($"invoke_agent {AgentName}", StringComparison.Ordinal));
        Assert.Equal(2, trace.Count(s => s.DisplayName.StartsWith("execute_tool", StringComparison.Ordinal)));
        Assert.Equal(runId, attemptSpan.GetTagItem(DurableAgentsDiagnostics.Tags.RunId));

        // Background work (the pump's shared calls, the recovery scans, the lease renewals) starts no trace of its own by
        // default; with the switch on its Redis commands are there, as roots.
        var redisRoots = all.Where(s => s.Source.Name == RedisSource && s.ParentSpanId == default).ToList();
        output?.WriteLine($"Redis commands without a parent: {redisRoots.Count} ({string.Join(", ", redisRoots.GroupBy(s => s.DisplayName).Select(g => $"{g.Key} ×{g.Count()}"))})");
        if (traceBackgroundWork)
        {
            Assert.True(redisRoots.Count >= batches, $"{redisRoots.Count} Redis roots for {batches} pump calls.");
        }
        else
        {
            Assert.Empty(redisRoots);
        }
    }

    [Fact]
    public async Task CancellingAQueuedRun_CountsOneCancel_AndTheRunsOneAttemptlessEnd()
    {
        const string AgentName = "CancelAgent";
        using var capture = SdkCapture.Start(AgentName);
        var model = new ScriptedChatClient();
        var gate = model.HoldTokens();
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient(), services =>
            services.Configure<DurableAgentsOptions>(o => o.AddAgent(AgentName, _ => new ChatClientAgent(model, "You answer.", AgentName))));
        var agent = cluster.Client.GetAgent(AgentName);
        var session = agent.NewSession();
        var first = await agent.StartRunAsync("first", session);
        var second = await agent.StartRunAsync("second", session);

        await agent.CancelAsync(session, second.RunId);
        gate.SetResult();
        await ConversationGrainTests.ReadAllAsync(cluster.Client, first.RunId);
        await capture.AttemptEnded.WaitAsync(TimeSpan.FromSeconds(30));

        var recorded = capture.Metrics();
        Assert.Equal(1, Points(recorded, DurableAgentsDiagnostics.Cancels, DurableAgentsDiagnostics.Tags.AgentName, AgentName).Sum(p => p.GetSumLong()));
        // The cancelled run never started an attempt: only the first run is in the attempts histogram.
        var attempts = Points(recorded, DurableAgentsDiagnostics.Attempts, DurableAgentsDiagnostics.Tags.AgentName, AgentName);
        Assert.Equal(1, attempts.Sum(p => p.GetHistogramCount()));
    }

    [Fact]
    public async Task AHandedOverRun_CountsAHandOverAndAReattempt_AndItsSecondAttemptJoinsTheSameTrace()
    {
        const string AgentName = "HandOverAgent";
        using var capture = SdkCapture.Start(AgentName);
        var model = new ScriptedChatClient { Answer = _ => ["after ", "the ", "hand-over"] };
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        model.BeforeToken = async (_, ct) =>
        {
            reached.TrySetResult();
            await gate.Task.WaitAsync(ct);
        };
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient(), services =>
            services.Configure<DurableAgentsOptions>(o => o.AddAgent(AgentName, _ => new ChatClientAgent(model, "You answer.", AgentName))));
        var agent = cluster.Client.GetAgent(AgentName);
        var run = await agent.StartRunAsync("go", agent.NewSession());
        await reached.Task.WaitAsync(TimeSpan.FromSeconds(20));

        // The silo running the attempt stops gracefully with another one up: the run is handed over to it.
        var first = cluster.Silos[0];
        await cluster.StartSiloAsync();
        await cluster.StopSiloAsync(first);
        gate.SetResult();
        var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, run.RunId);
        var second = await capture.AttemptEndedAsync(2).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);
        Assert.Equal(2, chunks[^1].Attempt);
        var firstSpan = await capture.AttemptEnded.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(firstSpan.TraceId, second.TraceId);
        Assert.Equal(firstSpan.ParentSpanId, second.ParentSpanId);
        Assert.Equal(2, second.GetTagItem(DurableAgentsDiagnostics.Tags.Attempt));
        var recorded = capture.Metrics();
        Assert.Equal(1, Points(recorded, DurableAgentsDiagnostics.HandOvers, DurableAgentsDiagnostics.Tags.AgentName, AgentName).Sum(p => p.GetSumLong()));
        Assert.Equal(1, Points(recorded, DurableAgentsDiagnostics.Reattempts, DurableAgentsDiagnostics.Tags.AgentName, AgentName).Sum(p => p.GetSumLong()));
        var attempts = Points(recorded, DurableAgentsDiagnostics.Attempts, DurableAgentsDiagnostics.Tags.AgentName, AgentName);
        Assert.Equal((1L, 2.0), (attempts.Sum(p => p.GetHistogramCount()), attempts.Sum(p => p.GetHistogramSum())));
        Assert.Equal(0, Points(recorded, DurableAgentsDiagnostics.ActiveRuns, DurableAgentsDiagnostics.Tags.AgentName, AgentName).Sum(p => p.GetSumLong()));
    }

    private static void AddAgent(IServiceCollection services, string agentName, IChatClient model)
        => services.Configure<DurableAgentsOptions>(o => o.AddAgent(agentName, _ => new ChatClientAgent(
            model.AsBuilder().UseOpenTelemetry().Build(),
            new ChatClientAgentOptions
            {
                Name = agentName,
                ChatOptions = new ChatOptions
                {
                    Instructions = "Use the tools.",
                    Tools =
                    [
                        AIFunctionFactory.Create((string city) => $"Sunny in {city}", "get_weather", "The weather in a city."),
                        AIFunctionFactory.Create((string city) => $"A festival in {city}", "get_events", "Events in a city."),
                    ],
                },
            })));

    private static List<MetricPoint> Points(IEnumerable<MetricSnapshot> metrics, string name, string tag, string value)
    {
        var points = new List<MetricPoint>();
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (var point in metric.MetricPoints)
            {
                if (HasTag(point, tag, value))
                {
                    points.Add(point);
                }
            }
        }

        Assert.True(points.Count > 0, $"No '{name}' with {tag}={value} was recorded.");
        return points;
    }

    private static bool HasTag(in MetricPoint point, string tag, string value)
    {
        foreach (var pair in point.Tags)
        {
            if (pair.Key == tag && Equals(pair.Value, value))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Descends(Activity span, Activity ancestor, IReadOnlyCollection<Activity> trace)
    {
        var parentId = span.ParentSpanId;
        for (var depth = 0; depth < 32 && parentId != default; depth++)
        {
            if (parentId == ancestor.SpanId)
            {
                return true;
            }

            var id = parentId;
            parentId = trace.FirstOrDefault(s => s.SpanId == id)?.ParentSpanId ?? default;
        }

        return false;
    }

    private static string Tree(IReadOnlyCollection<Activity> trace)
    {
        var text = new System.Text.StringBuilder();
        void Write(ActivitySpanId parent, int depth)
        {
            foreach (var span in trace.Where(s => s.ParentSpanId == parent).OrderBy(s => s.StartTimeUtc))
            {
                text.Append(' ', depth * 2).Append(span.DisplayName).Append(" [").Append(span.Source.Name).AppendLine("]");
                Write(span.SpanId, depth + 1);
            }
        }

        foreach (var root in trace.Where(s => trace.All(p => p.SpanId != s.ParentSpanId)))
        {
            text.Append(root.DisplayName).Append(" [").Append(root.Source.Name).AppendLine("] (root)");
            Write(root.SpanId, 1);
        }

        return text.ToString();
    }

    /// <summary>An SDK tracer and meter provider of the test's own (every span sampled), exporting in memory.</summary>
    private sealed class SdkCapture : IDisposable
    {
        private readonly List<Activity> _spans = [];
        private readonly List<MetricSnapshot> _metrics = [];
        private readonly TracerProvider _tracing;
        private readonly MeterProvider _metering;
        private readonly ConcurrentDictionary<int, TaskCompletionSource<Activity>> _attempts = new();

        private SdkCapture(string agentName)
        {
            var attemptSpan = $"{DurableAgentsDiagnostics.RunAttemptActivityName} {agentName}";
            _tracing = Sdk.CreateTracerProviderBuilder()
                .AddSource("AgentStreaming.*", "Experimental.Microsoft.Extensions.AI", "*Microsoft.Agents.AI*")
                .SetSampler(new AlwaysOnSampler())
                .AddInMemoryExporter(_spans)
                .AddProcessor(new SignalOnEnd(attemptSpan, span => Attempt((int)span.GetTagItem(DurableAgentsDiagnostics.Tags.Attempt)!).TrySetResult(span)))
                .Build();
            _metering = Sdk.CreateMeterProviderBuilder()
                .AddMeter("AgentStreaming.*")
                .AddInMemoryExporter(_metrics)
                .Build();
        }

        /// <summary>Completes when the first attempt's span of the agent ends (after the exporter got it: processors run in order).</summary>
        public Task<Activity> AttemptEnded => Attempt(1).Task;

        public static SdkCapture Start(string agentName) => new(agentName);

        /// <summary>Completes when the span of the given attempt of the agent's run ends.</summary>
        public Task<Activity> AttemptEndedAsync(int attempt) => Attempt(attempt).Task;

        public Activity[] Trace(ActivityTraceId traceId)
        {
            lock (_spans)
            {
                return [.. _spans.Where(s => s.TraceId == traceId)];
            }
        }

        public Activity[] All()
        {
            lock (_spans)
            {
                return [.. _spans];
            }
        }

        /// <summary>The metrics as they stand now (cumulative), one snapshot each.</summary>
        public MetricSnapshot[] Metrics()
        {
            lock (_metrics)
            {
                _metrics.Clear();
            }

            _metering.ForceFlush();
            lock (_metrics)
            {
                return [.. _metrics];
            }
        }

        public void Dispose()
        {
            _tracing.Dispose();
            _metering.Dispose();
        }

        private TaskCompletionSource<Activity> Attempt(int attempt)
            => _attempts.GetOrAdd(attempt, _ => new TaskCompletionSource<Activity>(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    /// <summary>Calls back when the named span of the durable runtime ends.</summary>
    private sealed class SignalOnEnd(string name, Action<Activity> ended) : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data)
        {
            if (data.DisplayName == name && data.Source.Name == DurableAgentsDiagnostics.Name)
            {
                ended(data);
            }
        }
    }

    /// <summary>A model that first asks for <c>get_weather</c> and <c>get_events</c>, then streams its answer.</summary>
    private sealed class ToolCallingChatClient(IReadOnlyList<string> answer, TimeSpan pace = default) : IChatClient
    {
        public const string ProviderName = "telemetry-model";

        private readonly ChatClientMetadata _metadata = new(ProviderName, providerUri: null, defaultModelId: "scripted");

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
            => GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            if (!messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().Any())
            {
                var city = new Dictionary<string, object?> { ["city"] = "Lisbon" };
                var tools = options?.Tools?.Count ?? 1;
                List<AIContent> calls = [new FunctionCallContent("call-1", "get_weather", city)];
                if (tools > 1)
                {
                    calls.Add(new FunctionCallContent("call-2", "get_events", city));
                }

                yield return new ChatResponseUpdate(ChatRole.Assistant, calls) { FinishReason = ChatFinishReason.ToolCalls };
                yield break;
            }

            foreach (var token in answer)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (pace > TimeSpan.Zero)
                {
                    await Task.Delay(pace, cancellationToken);
                }

                yield return new ChatResponseUpdate(ChatRole.Assistant, token);
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null)
            => serviceKey is null && serviceType == typeof(ChatClientMetadata) ? _metadata : null;

        public void Dispose()
        {
        }
    }
}

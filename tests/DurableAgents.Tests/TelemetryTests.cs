using System.Diagnostics;
using System.Runtime.CompilerServices;
using AgentStreaming.DurableAgents.Diagnostics;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>
/// A run's telemetry through the OpenTelemetry SDK (in-memory exporter): one trace from the client's call through the
/// grain's run span to the model call, the tool call and the Redis stream writes; and the run metrics.
/// </summary>
public sealed class TelemetryTests(AppendOnlyRedisServerFixture redis)
{
    private const string AgentName = "TelemetryAgent";

    [Fact]
    public async Task ARun_IsOneSpanWithModelToolAndStreamWriteChildren_InTheClientsTrace()
    {
        var spans = new List<Activity>();
        var runSpanEnded = new TaskCompletionSource<Activity>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource("AgentStreaming.*", "Experimental.Microsoft.Extensions.AI", "*Microsoft.Agents.AI*")
            .SetSampler(new AlwaysOnSampler())
            .AddInMemoryExporter(spans)
            .AddProcessor(new SignalOnEnd($"invoke_agent {AgentName}", runSpanEnded))
            .Build();
        var metrics = new List<MetricSnapshot>();
        using var metering = Sdk.CreateMeterProviderBuilder()
            .AddMeter("AgentStreaming.*")
            .AddInMemoryExporter(metrics)
            .Build();

        var model = new ToolCallingChatClient();
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, new ScriptedChatClient(), services =>
            services.Configure<DurableAgentsOptions>(o => o.AddAgent(AgentName, _ => new ChatClientAgent(
                model.AsBuilder().UseOpenTelemetry().Build(),
                new ChatClientAgentOptions
                {
                    Name = AgentName,
                    ChatOptions = new ChatOptions
                    {
                        Instructions = "Use the tool.",
                        Tools = [AIFunctionFactory.Create((string city) => $"Sunny in {city}", "get_weather", "The weather in a city.")],
                    },
                }))));
        var agent = cluster.Client.GetAgent(AgentName);
        var session = agent.NewSession();

        var result = await agent.StartRunAsync("Weather in Lisbon?", session);
        var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, result.RunId);
        var runSpan = await runSpanEnded.Task.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);
        Assert.Equal("It is sunny in Lisbon.", ConversationGrainTests.Text(chunks));
        Activity[] trace;
        lock (spans)
        {
            trace = [.. spans.Where(s => s.TraceId == runSpan.TraceId)];
        }

        TestContext.Current.TestOutputHelper?.WriteLine(Tree(trace));

        // Client → grain: the client's span and the run span are one trace, the run span a child of the client's.
        var clientSpan = Assert.Single(trace, s => s.DisplayName == $"run_agent {AgentName}");
        Assert.Equal(ActivityKind.Client, clientSpan.Kind);
        Assert.Equal(clientSpan.SpanId, runSpan.ParentSpanId);
        Assert.Equal(result.RunId, clientSpan.GetTagItem(DurableAgentsDiagnostics.Tags.RunId));

        // One run (one attempt) is one span, with its identity as attributes.
        Assert.Single(trace, s => s.DisplayName == $"invoke_agent {AgentName}" && s.Source.Name == DurableAgentsDiagnostics.Name);
        Assert.Equal(AgentName, runSpan.GetTagItem(DurableAgentsDiagnostics.Tags.AgentName));
        Assert.Equal(session.ConversationId, runSpan.GetTagItem(DurableAgentsDiagnostics.Tags.ConversationId));
        Assert.Equal(result.RunId, runSpan.GetTagItem(DurableAgentsDiagnostics.Tags.RunId));
        Assert.Equal(1, runSpan.GetTagItem(DurableAgentsDiagnostics.Tags.Attempt));
        Assert.Equal("completed", runSpan.GetTagItem(DurableAgentsDiagnostics.Tags.Outcome));

        // Under it: the model calls (one asking for the tool, one answering), the tool call and the stream writes.
        var modelCalls = trace.Where(s => s.DisplayName.StartsWith("chat", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, modelCalls.Count);
        var toolCall = Assert.Single(trace, s => s.DisplayName == "execute_tool get_weather");
        var appends = trace.Where(s => s.DisplayName == "agent_stream append").ToList();
        Assert.NotEmpty(appends);
        Assert.All(modelCalls.Append(toolCall), s => Assert.True(Descends(s, runSpan, trace), $"'{s.DisplayName}' is not under the run span:\n{Tree(trace)}"));
        Assert.All(appends, s => Assert.Equal(runSpan.SpanId, s.ParentSpanId));
        Assert.All(appends, s => Assert.Equal(result.RunId, s.GetTagItem("agent_streaming.run.id")));
        Assert.All(trace.Where(s => s != clientSpan), s => Assert.True(Descends(s, runSpan, trace) || s == runSpan, $"'{s.DisplayName}' hangs outside the run span:\n{Tree(trace)}"));

        // The trace context travels with the run: the stream's first entry carries it.
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.Server.ConnectionString))
        {
            var first = Assert.Single(await connection.GetDatabase().StreamRangeAsync(result.StreamKey, count: 1));
            Assert.Equal(clientSpan.Id, (string?)first["traceparent"]);
        }

        // Metrics of the run.
        metering.ForceFlush();
        MetricSnapshot[] recorded;
        lock (metrics)
        {
            recorded = [.. metrics];
        }

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
    }

    private static List<MetricPoint> Points(IEnumerable<MetricSnapshot> metrics, string name, string tag, string value)
    {
        var points = new List<MetricPoint>();
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (var point in metric.MetricPoints)
            {
                foreach (var pair in point.Tags)
                {
                    if (pair.Key == tag && Equals(pair.Value, value))
                    {
                        points.Add(point);
                    }
                }
            }
        }

        Assert.True(points.Count > 0, $"No '{name}' with {tag}={value} was recorded.");
        return points;
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

    /// <summary>Completes a task when the named span ends (after the exporter got it: processors run in order).</summary>
    private sealed class SignalOnEnd(string name, TaskCompletionSource<Activity> ended) : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data)
        {
            if (data.DisplayName == name && data.Source.Name == DurableAgentsDiagnostics.Name)
            {
                ended.TrySetResult(data);
            }
        }
    }

    /// <summary>A model that first asks for <c>get_weather</c>, then answers from the tool's result.</summary>
    private sealed class ToolCallingChatClient : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
            => GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            var result = messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().FirstOrDefault();
            if (result is null)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, [new FunctionCallContent("call-1", "get_weather", new Dictionary<string, object?> { ["city"] = "Lisbon" })])
                {
                    FinishReason = ChatFinishReason.ToolCalls,
                };
                yield break;
            }

            foreach (var token in new[] { "It is ", "sunny ", "in Lisbon." })
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return new ChatResponseUpdate(ChatRole.Assistant, token);
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

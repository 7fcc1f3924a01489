using System.Diagnostics;
using System.Text;
using System.Text.Json;
using AgentStreaming.DurableAgents.Diagnostics;
using AgentStreaming.Streaming.Callbacks;
using AgentStreaming.Streaming.Streams;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.DurableAgents.Grains;

/// <summary>How one attempt of a run ended.</summary>
internal enum AttemptOutcome
{
    /// <summary>The agent answered.</summary>
    Completed,

    /// <summary>A cancellation stopped it.</summary>
    Cancelled,

    /// <summary>The model or a tool failed.</summary>
    Failed,

    /// <summary>The run's stream expired before it ended; every further attempt would be refused the same way.</summary>
    StreamExpired,

    /// <summary>Stopped for a hand-over: the run goes on elsewhere as its next attempt.</summary>
    HandedOver,
}

/// <summary>What an attempt produced.</summary>
/// <param name="Outcome">How it ended.</param>
/// <param name="Text">The answer's text (partial unless completed).</param>
/// <param name="ToolCalls">The tool calls it made, with their results.</param>
/// <param name="Response">The agent's response, when completed.</param>
/// <param name="Error">The message readers get, when it failed.</param>
internal sealed record AttemptResult(AttemptOutcome Outcome, string Text, List<ToolCallRecord> ToolCalls, AgentResponse? Response, string? Error);

/// <summary>
/// One attempt of one run: runs the agent on the messages, streams every update through the
/// <see cref="IAgentResponseCallback"/>, and turns how it ended into an <see cref="AttemptResult"/>. The grain records
/// the result, then <see cref="EndAsync"/> writes the terminal entry. The <c>run_attempt</c> span covers both; the agent's
/// own <c>invoke_agent</c> span (the Agent Framework's, with the model calls and tools) sits under it.
/// </summary>
/// <remarks>
/// A refusal of the stream (<see cref="AgentStreamWriteFailure.Fenced"/> or <see cref="AgentStreamWriteFailure.AlreadyTerminated"/>:
/// another activation owns the run now) and any other write failure propagate: the activation must not touch the run.
/// </remarks>
internal sealed class RunAttempt : IDisposable
{
    internal const string ExpiredMessage = "The run's stream expired before the run ended; its answer could not be streamed.";

    private readonly IAgentResponseCallback _callback;
    private readonly ILogger _logger;
    private readonly string _agentName;
    private readonly Activity? _activity;
    private readonly long _started = Stopwatch.GetTimestamp();
    private bool _disposed;

    public RunAttempt(IAgentResponseCallback callback, ILogger logger, string agentName, string conversationId, RunInfo run)
    {
        _callback = callback;
        _logger = logger;
        _agentName = agentName;
        Run = run;
        Context = new AgentResponseCallbackContext(agentName, conversationId, run.RunId, Math.Max(1, run.Attempts), run.TraceParent);
        _activity = StartActivity(agentName, conversationId, run);
        DurableAgentsDiagnostics.ActiveRunsCounter.Add(1, Tag(DurableAgentsDiagnostics.Tags.AgentName, agentName));
        if (Context.Attempt > 1)
        {
            DurableAgentsDiagnostics.ReattemptsCounter.Add(1, Tag(DurableAgentsDiagnostics.Tags.AgentName, agentName));
        }
    }

    /// <summary>The run, as this attempt started it.</summary>
    public RunInfo Run { get; }

    /// <summary>The stream context (run id, attempt, trace).</summary>
    public AgentResponseCallbackContext Context { get; }

    /// <summary>Runs the agent to the end of this attempt.</summary>
    /// <param name="createAgent">Builds the agent (a failure to build it fails the attempt like any other).</param>
    /// <param name="messages">The history window and the run's question.</param>
    /// <param name="cancellation">Cancelled by a cancel request or a hand-over.</param>
    /// <param name="handingOver">Whether a cancellation means a hand-over.</param>
    /// <returns>How it ended.</returns>
    public async Task<AttemptResult> ExecuteAsync(Func<AIAgent> createAgent, IEnumerable<ChatMessage> messages, CancellationTokenSource cancellation, Func<bool> handingOver)
    {
        var updates = new List<AgentResponseUpdate>();
        DurableAgentsLog.AttemptStarted(_logger, Run.RunId, Run.Attempts);
        try
        {
            await _callback.OnRunStartedAsync(Context, cancellation.Token);
            var agent = createAgent();
            await foreach (var update in agent.RunStreamingAsync(messages, session: null, options: null, cancellation.Token))
            {
                if (updates.Count == 0)
                {
                    DurableAgentsDiagnostics.TimeToFirstChunkHistogram.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, Tag(DurableAgentsDiagnostics.Tags.AgentName, _agentName));
                }

                updates.Add(update);
                DurableAgentsDiagnostics.ChunksCounter.Add(1, Tag(DurableAgentsDiagnostics.Tags.AgentName, _agentName));
                await _callback.OnStreamingResponseUpdateAsync(update, Context, cancellation.Token);
            }

            // A cancel answered before the run was recorded as finished wins, even if the model has just ended.
            if (!handingOver())
            {
                cancellation.Token.ThrowIfCancellationRequested();
            }

            // Everything streamed is in Redis before the run is recorded as answered: a crash after the record can then
            // only miss the terminal entry, which the next activation writes.
            await _callback.FlushAsync(Context, CancellationToken.None);
            var response = updates.ToAgentResponse();
            return new AttemptResult(AttemptOutcome.Completed, response.Text, ToolCalls(updates), response, Error: null);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested && handingOver())
        {
            DurableAgentsDiagnostics.HandOversCounter.Add(1, Tag(DurableAgentsDiagnostics.Tags.AgentName, _agentName));
            _activity?.SetStatus(ActivityStatusCode.Error, "handed over");
            return new AttemptResult(AttemptOutcome.HandedOver, Text(updates), [], Response: null, Error: null);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return new AttemptResult(AttemptOutcome.Cancelled, Text(updates), ToolCalls(updates), Response: null, Error: null);
        }
        catch (AgentStreamWriteException ex) when (ex.Failure is AgentStreamWriteFailure.Fenced or AgentStreamWriteFailure.AlreadyTerminated)
        {
            DurableAgentsLog.AttemptFenced(_logger, Run.RunId, Run.Attempts);
            _activity?.SetStatus(ActivityStatusCode.Error, "superseded");
            throw;
        }
        catch (AgentStreamWriteException ex) when (ex.Failure == AgentStreamWriteFailure.Expired)
        {
            // Its readers were told the stream expired, and every further attempt would be refused the same way.
            DurableAgentsLog.StreamExpired(_logger, Run.RunId, Run.Attempts, ex);
            _activity?.SetStatus(ActivityStatusCode.Error, "stream expired");
            return new AttemptResult(AttemptOutcome.StreamExpired, Text(updates), ToolCalls(updates), Response: null, ExpiredMessage);
        }
        catch (Exception ex) when (ex is not AgentStreamWriteException)
        {
            // The exception's text (model SDK, tool, JSON parser) stays in the log; readers get a fixed message and an
            // id to find it.
            var errorId = Guid.NewGuid().ToString("N")[..16];
            DurableAgentsLog.AttemptFailed(_logger, Run.RunId, Run.Attempts, errorId, ex);
            _activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            return new AttemptResult(AttemptOutcome.Failed, Text(updates), ToolCalls(updates), Response: null, $"The agent failed. Error id {errorId}.");
        }
    }

    /// <summary>Writes the terminal entry for a recorded result (none for a hand-over or an expired stream).</summary>
    /// <param name="result">The result.</param>
    /// <param name="recorded">The run as recorded.</param>
    public async Task EndAsync(AttemptResult result, RunInfo recorded)
    {
        switch (result.Outcome)
        {
            case AttemptOutcome.Completed:
                await _callback.OnAgentResponseAsync(result.Response!, Context);
                break;
            case AttemptOutcome.Cancelled:
                await _callback.OnRunCancelledAsync("The run was cancelled.", Context);
                break;
            case AttemptOutcome.Failed:
                await _callback.OnRunFailedAsync(result.Error!, Context);
                break;
            case AttemptOutcome.HandedOver:
                return;
            default:
                break;
        }

        var outcome = recorded.Status.ToString().ToLowerInvariant();
        _activity?.SetTag(DurableAgentsDiagnostics.Tags.Outcome, outcome);
        DurableAgentsDiagnostics.RunDurationHistogram.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, Tag(DurableAgentsDiagnostics.Tags.Outcome, outcome));
    }

    /// <summary>
    /// Writes the terminal entry of a run that ends without an attempt of this activation (cancelled while queued,
    /// abandoned after its attempts, or recorded before a crash that came before its terminal entry). A terminal entry
    /// already in the stream stays the only one; an expired stream is left as its readers were told.
    /// </summary>
    /// <param name="callback">The response callback.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="context">The run's stream context.</param>
    /// <param name="run">The run as recorded (its status picks the entry).</param>
    /// <param name="text">The recorded answer (for a completed run).</param>
    public static async Task WriteTerminalAsync(IAgentResponseCallback callback, ILogger logger, AgentResponseCallbackContext context, RunInfo run, string text)
    {
        try
        {
            switch (run.Status)
            {
                case RunStatus.Completed:
                    await callback.OnAgentResponseAsync(new AgentResponse(new ChatMessage(ChatRole.Assistant, text)), context);
                    break;
                case RunStatus.Cancelled:
                    await callback.OnRunCancelledAsync(run.Attempts == 0 ? "The run was cancelled before it started." : "The run was cancelled.", context);
                    break;
                default:
                    await callback.OnRunFailedAsync(run.Error ?? "The run failed.", context);
                    break;
            }
        }
        catch (AgentStreamWriteException ex) when (ex.Failure == AgentStreamWriteFailure.AlreadyTerminated)
        {
            // Already ended in the stream: exactly one terminal entry stays.
        }
        catch (AgentStreamWriteException ex) when (ex.Failure == AgentStreamWriteFailure.Expired)
        {
            DurableAgentsLog.StreamExpired(logger, run.RunId, run.Attempts, ex);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        DurableAgentsDiagnostics.ActiveRunsCounter.Add(-1, Tag(DurableAgentsDiagnostics.Tags.AgentName, _agentName));
        _activity?.Dispose();
    }

    private static Activity? StartActivity(string agentName, string conversationId, RunInfo run)
    {
        ActivityContext.TryParse(run.TraceParent, null, out var parent);
        var activity = DurableAgentsDiagnostics.ActivitySource.StartActivity($"{DurableAgentsDiagnostics.RunAttemptActivityName} {agentName}", ActivityKind.Internal, parent);
        if (activity is not null)
        {
            activity.SetTag(DurableAgentsDiagnostics.Tags.AgentName, agentName);
            activity.SetTag(DurableAgentsDiagnostics.Tags.ConversationId, conversationId);
            activity.SetTag(DurableAgentsDiagnostics.Tags.RunId, run.RunId);
            activity.SetTag(DurableAgentsDiagnostics.Tags.Attempt, run.Attempts);
        }

        return activity;
    }

    private static KeyValuePair<string, object?> Tag(string name, object? value) => new(name, value);

    private static string Text(List<AgentResponseUpdate> updates)
    {
        var text = new StringBuilder();
        foreach (var update in updates)
        {
            text.Append(update.Text);
        }

        return text.ToString();
    }

    private static List<ToolCallRecord> ToolCalls(List<AgentResponseUpdate> updates)
    {
        var calls = new List<(string CallId, string Name, string? Arguments)>();
        var results = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var content in updates.SelectMany(u => u.Contents))
        {
            switch (content)
            {
                case FunctionCallContent call:
                    calls.Add((call.CallId, call.Name, call.Arguments is null ? null : JsonSerializer.Serialize(call.Arguments, AIJsonUtilities.DefaultOptions)));
                    break;
                case FunctionResultContent result:
                    results[result.CallId] = result.Result switch
                    {
                        null => null,
                        string s => s,
                        JsonElement e => e.GetRawText(),
                        var other => JsonSerializer.Serialize(other, AIJsonUtilities.DefaultOptions),
                    };
                    break;
                default:
                    break;
            }
        }

        return calls.Select(c => new ToolCallRecord(c.Name, c.Arguments, results.GetValueOrDefault(c.CallId))).ToList();
    }
}

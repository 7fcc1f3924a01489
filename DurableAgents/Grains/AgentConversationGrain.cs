using System.Diagnostics;
using System.Text;
using System.Text.Json;
using AgentStreaming.DurableAgents.Diagnostics;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.DurableAgents.Recovery;
using AgentStreaming.Streaming.Callbacks;
using AgentStreaming.Streaming.Streams;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentStreaming.DurableAgents.Grains;

/// <summary>
/// The durable conversation: accepts runs (persisted before the answer), executes them one at a time outside the
/// grain's request turns (so cancel and queries interleave with a long generation), streams each through the
/// <see cref="IAgentResponseCallback"/>, and records history before the terminal entry.
/// </summary>
/// <remarks>
/// While a run is unfinished the activation renews a claim in Redis (<see cref="RunLeaseStore"/>); if its worker
/// dies the claim lapses and another worker re-activates the grain, which re-drives the run as its next attempt
/// (the stream writer fences the old attempt out and writes a <c>reset</c> entry).
/// </remarks>
internal sealed class AgentConversationGrain : Grain, IAgentConversationGrain, IRemindable
{
    private const string ExpiryReminder = "conversation-expiry";
    private const string ExpiredMessage = "The run's stream expired before the run ended; its answer could not be streamed.";

    private readonly IPersistentState<ConversationState> _state;
    private readonly DurableAgentsOptions _options;
    private readonly IAgentResponseCallback _callback;
    private readonly RunLeaseStore _leases;
    private readonly ConversationIndex _index;
    private readonly RunIndex _runs;
    private readonly TimeProvider _time;
    private readonly ILogger<AgentConversationGrain> _logger;
    private string _agentName = string.Empty;
    private string _conversationId = string.Empty;
    private Task? _processing;
    private IGrainTimer? _leaseTimer;
    private string? _currentRunId;
    private CancellationTokenSource? _currentRun;
    private bool _expiryReminderSet;
    private bool _handingOver;

    public AgentConversationGrain(
        [PersistentState("conversation", DurableAgentNames.StorageProvider)] IPersistentState<ConversationState> state,
        IOptions<DurableAgentsOptions> options,
        IAgentResponseCallback callback,
        RunLeaseStore leases,
        ConversationIndex index,
        RunIndex runs,
        TimeProvider time,
        ILogger<AgentConversationGrain> logger)
    {
        _state = state;
        _options = options.Value;
        _callback = callback;
        _leases = leases;
        _index = index;
        _runs = runs;
        _time = time;
        _logger = logger;
    }

    private string Key => this.GetPrimaryKeyString();

    private ConversationState State => _state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_agentName, _conversationId) = DurableAgentNames.ParseConversationKey(Key);
        if (IsExpired())
        {
            await _state.ClearStateAsync(cancellationToken);
        }

        if (State.Runs.Any(r => !r.Status.IsFinal()))
        {
            StartProcessing();
        }

        await base.OnActivateAsync(cancellationToken);
    }

    /// <summary>
    /// Hands a running run over when the activation goes away gracefully (silo shutdown, rolling restart, explicit
    /// deactivation): the generation stops (so the model is not paid twice), nothing of the attempt is recorded as an
    /// outcome, and the run's claim is made due at once, so the next recovery scan of any worker (every
    /// <see cref="DurableAgentsOptions.RecoveryScanInterval"/>) re-drives it as its next attempt instead of waiting for
    /// the claim to lapse.
    /// </summary>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_processing is { IsCompleted: false } processing)
        {
            _handingOver = true;
            _currentRun?.Cancel();
            await processing.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
            _leaseTimer?.Dispose();
            _leaseTimer = null;
            if (State.Runs.Any(r => !r.Status.IsFinal()))
            {
                try
                {
                    await _leases.RenewAsync(Key, TimeSpan.Zero);
                    DurableAgentsLog.HandedOver(_logger, Key, reason.ReasonCode);
                    // Delivered once this activation is gone, to a new one on a silo that is not stopping; the recovery
                    // scan is the fallback if the message is lost with this silo.
                    _ = GrainFactory.GetGrain<IAgentConversationGrain>(Key).ResumeAsync();
                }
                catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
                {
                    // The claim lapses by itself after RunLeaseDuration; the hand-over is only slower.
                    DurableAgentsLog.RecoveryFailed(_logger, Key, ex);
                }
            }
        }

        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    public async Task<RunHandle> RunAsync(RunRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!_options.Agents.ContainsKey(_agentName))
        {
            var known = _options.Agents.Count == 0 ? "none" : string.Join(", ", _options.Agents.Keys.Order(StringComparer.Ordinal));
            throw new ArgumentException($"Unknown agent '{DurableAgentNames.Sanitize(_agentName)}'. Agents this worker hosts: {known}.", nameof(request));
        }

        if (string.IsNullOrWhiteSpace(request.Message))
        {
            throw new ArgumentException("The message is empty.", nameof(request));
        }

        if (request.Message.Length > _options.MaxMessageLength)
        {
            throw new ArgumentException($"The message has {request.Message.Length} characters; the limit is {_options.MaxMessageLength}.", nameof(request));
        }

        var runId = request.RunId ?? StreamKeys.NewRunId();
        if (!StreamKeys.IsValidRunId(runId))
        {
            throw new ArgumentException("A run id is 1 to 128 letters, digits, '-', '_' or '.'.", nameof(request));
        }

        if (State.Runs.Find(r => r.RunId == runId) is { } existing)
        {
            return Handle(existing);
        }

        var now = _time.GetUtcNow();
        var run = new RunInfo
        {
            RunId = runId,
            Message = request.Message,
            Status = RunStatus.Queued,
            CreatedAt = now,
            TraceParent = request.TraceParent ?? Activity.Current?.Id,
        };
        State.Runs.Add(run);
        State.LastActivity = now;
        TrimRuns();
        // One round trip: the state write, the recovery claim and the index entries go out together. A claim without
        // a stored run is harmless (recovery finds nothing unfinished and drops it); the answer waits for all three.
        await Task.WhenAll(
            _state.WriteStateAsync(),
            _leases.RenewAsync(Key, _options.RunLeaseDuration),
            _index.TouchAsync(Key, now),
            _runs.RecordAsync(runId, new RunLocation(_agentName, _conversationId), _options.ConversationTtl));
        DurableAgentsDiagnostics.RunsAcceptedCounter.Add(1, new KeyValuePair<string, object?>(DurableAgentsDiagnostics.Tags.AgentName, _agentName));
        DurableAgentsLog.RunAccepted(_logger, _agentName, _conversationId, runId);
        DurableAgentsLog.RunMessage(_logger, runId, request.Message);
        StartProcessing();
        await EnsureExpiryReminderAsync();
        return Handle(run);
    }

    public async Task<RunInfo?> CancelRunAsync(string runId)
    {
        var index = State.Runs.FindIndex(r => r.RunId == runId);
        if (index < 0)
        {
            return null;
        }

        var run = State.Runs[index];
        if (run.Status.IsFinal() || run.CancelRequested)
        {
            return run;
        }

        if (_currentRunId == runId)
        {
            // Stop the generation before awaiting anything: while the write is in flight the attempt could otherwise
            // finish as completed after this call has answered "cancellation requested".
            State.Runs[index] = run with { CancelRequested = true };
            _currentRun?.Cancel();
            await _state.WriteStateAsync();
            return State.Runs.Find(r => r.RunId == runId) is { } latest ? WithResponse(latest) : run;
        }

        // Queued behind another run: it ends now, without ever running.
        run = await FinishAsync(run with { CancelRequested = true }, RunStatus.Cancelled, responseText: string.Empty, error: null);
        await WriteTerminalAsync(run, AgentStreamEntry.ForCancelled("The run was cancelled before it started."));
        return run;
    }

    public Task<ConversationSnapshot> GetConversationAsync()
        => Task.FromResult(new ConversationSnapshot
        {
            AgentName = _agentName,
            ConversationId = _conversationId,
            History = [.. State.History],
            Runs = [.. State.Runs.Select(WithResponse)],
            LastActivity = State.LastActivity,
            HostedBy = $"{Environment.MachineName}/{Environment.ProcessId}",
        });

    public Task<RunInfo?> GetRunAsync(string runId) => Task.FromResult(State.Runs.Find(r => r.RunId == runId) is { } run ? WithResponse(run) : null);

    private RunInfo WithResponse(RunInfo run)
        => run.ResponseText is not null || !run.Status.IsFinal()
            ? run
            : run with { ResponseText = State.History.FindLast(m => m.RunId == run.RunId && m.Role == "assistant")?.Text ?? string.Empty };

    public Task ResumeAsync()
    {
        if (State.Runs.Any(r => !r.Status.IsFinal()))
        {
            StartProcessing();
        }
        else
        {
            return _leases.RemoveAsync(Key);
        }

        return Task.CompletedTask;
    }

    public async Task<bool> ExpireIfIdleAsync()
    {
        if (!IsExpired())
        {
            return false;
        }

        await _state.ClearStateAsync();
        await _index.RemoveAsync(Key);
        try
        {
            var reminder = await this.GetReminder(ExpiryReminder);
            if (reminder is not null)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OrleansException)
        {
            // No reminder service in this silo: the storage entry's own expiry removes the state anyway.
        }

        DurableAgentsLog.Expired(_logger, Key);
        DeactivateOnIdle();
        return true;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ExpiryReminder)
        {
            await ExpireIfIdleAsync();
        }
    }

    private bool IsExpired()
        => State.LastActivity is { } last
            && last + _options.ConversationTtl <= _time.GetUtcNow()
            && State.Runs.All(r => r.Status.IsFinal());

    private async Task EnsureExpiryReminderAsync()
    {
        if (_expiryReminderSet)
        {
            return;
        }

        try
        {
            var period = _options.ConversationTtl < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : _options.ConversationTtl;
            await this.RegisterOrUpdateReminder(ExpiryReminder, period, period);
            _expiryReminderSet = true;
        }
        catch (Exception ex) when (ex is InvalidOperationException or OrleansException or ArgumentException)
        {
            // No reminder service configured: expiry still happens through the storage entry's TTL.
            _expiryReminderSet = true;
        }
    }

    private RunHandle Handle(RunInfo run) => new(_agentName, _conversationId, run.RunId, "agent-stream:" + run.RunId, run.Status);

    private void TrimRuns()
    {
        while (State.Runs.Count > _options.MaxRunsKept && State.Runs[0].Status.IsFinal())
        {
            State.Runs.RemoveAt(0);
        }
    }

    private void StartProcessing()
    {
        _leaseTimer ??= this.RegisterGrainTimer(RenewLeaseAsync, new GrainTimerCreationOptions
        {
            DueTime = _options.RunLeaseRenewInterval,
            Period = _options.RunLeaseRenewInterval,
            KeepAlive = true,
            Interleave = true,
        });
        if (_processing is null || _processing.IsCompleted)
        {
            _processing = ProcessAsync();
        }
    }

    private Task RenewLeaseAsync(CancellationToken cancellationToken) => _leases.RenewAsync(Key, _options.RunLeaseDuration);

    private async Task ProcessAsync()
    {
        // Leave the accepting call's turn first: the caller gets its answer before the agent starts.
        await Task.Yield();
        try
        {
            while (!_handingOver && State.Runs.Find(r => !r.Status.IsFinal()) is { } run)
            {
                await ExecuteAsync(run);
            }

            if (_handingOver)
            {
                return;
            }

            _leaseTimer?.Dispose();
            _leaseTimer = null;
            await _leases.RemoveAsync(Key);
        }
        catch (Exception ex)
        {
            // State in memory may differ from storage now; reload it in a fresh activation. The lease lapses and
            // recovery re-drives the unfinished run.
            DurableAgentsLog.ProcessingFailed(_logger, Key, ex);
            _leaseTimer?.Dispose();
            _leaseTimer = null;
            DeactivateOnIdle();
        }
    }

    private async Task ExecuteAsync(RunInfo run)
    {
        // The cancellation source exists from the moment the run is taken, so a cancel that arrives while the attempt
        // is being persisted or the stream opened is not lost (it used to be created only when generation began).
        using var cts = new CancellationTokenSource();
        _currentRunId = run.RunId;
        _currentRun = cts;
        try
        {
            if (run.CancelRequested)
            {
                run = await FinishAsync(run, RunStatus.Cancelled, run.ResponseText ?? string.Empty, error: null);
                await WriteTerminalAsync(run, AgentStreamEntry.ForCancelled("The run was cancelled."));
                return;
            }

            if (run.Attempts >= _options.MaxAttempts)
            {
                var message = $"The run was abandoned after {run.Attempts} attempts: its worker stopped each time before it finished.";
                run = await FinishAsync(run, RunStatus.Failed, string.Empty, message);
                await WriteTerminalAsync(run with { Attempts = run.Attempts + 1 }, AgentStreamEntry.ForError(message));
                return;
            }

            // Persist the attempt before anything is streamed: a crash from here on re-drives as the next attempt.
            run = Update(run with { Attempts = run.Attempts + 1, Status = RunStatus.Running, StartedAt = run.StartedAt ?? _time.GetUtcNow() });
            await _state.WriteStateAsync();
            await RunAttemptAsync(run, cts);
        }
        finally
        {
            _currentRunId = null;
            _currentRun = null;
        }
    }

    private async Task RunAttemptAsync(RunInfo run, CancellationTokenSource cts)
    {
        var context = new AgentResponseCallbackContext(_agentName, _conversationId, run.RunId, run.Attempts, run.TraceParent);
        using var activity = StartRunActivity(run);
        var started = Stopwatch.GetTimestamp();
        var updates = new List<AgentResponseUpdate>();
        DurableAgentsLog.AttemptStarted(_logger, run.RunId, run.Attempts);
        try
        {
            await _callback.OnRunStartedAsync(context, cts.Token);
            var agent = CreateAgent();
            var messages = BuildMessages(run);
            await foreach (var update in agent.RunStreamingAsync(messages, session: null, options: null, cts.Token))
            {
                if (updates.Count == 0)
                {
                    DurableAgentsDiagnostics.TimeToFirstChunkHistogram.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, Tag(DurableAgentsDiagnostics.Tags.AgentName, _agentName));
                }

                updates.Add(update);
                DurableAgentsDiagnostics.ChunksCounter.Add(1, Tag(DurableAgentsDiagnostics.Tags.AgentName, _agentName));
                await _callback.OnStreamingResponseUpdateAsync(update, context, cts.Token);
            }

            // A cancel answered before the run was recorded as finished wins, even if the model has just ended.
            if (!_handingOver)
            {
                cts.Token.ThrowIfCancellationRequested();
            }

            var response = updates.ToAgentResponse();
            run = await FinishAsync(run, RunStatus.Completed, response.Text, error: null, updates);
            await _callback.OnAgentResponseAsync(response, context);
            Ended(activity, run, started);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested && _handingOver)
        {
            // Stopped for a hand-over: the run stays running in storage; another worker's next attempt takes it.
            activity?.SetStatus(ActivityStatusCode.Error, "handed over");
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            run = await FinishAsync(run, RunStatus.Cancelled, Text(updates), error: null, updates, cancelled: true);
            await _callback.OnRunCancelledAsync("The run was cancelled.", context);
            Ended(activity, run, started);
        }
        catch (AgentStreamWriteException ex) when (ex.Failure is AgentStreamWriteFailure.Fenced or AgentStreamWriteFailure.AlreadyTerminated)
        {
            // Another activation owns this run now (or already ended it): stop without touching its state.
            DurableAgentsLog.AttemptFenced(_logger, run.RunId, run.Attempts);
            activity?.SetStatus(ActivityStatusCode.Error, "superseded");
            throw;
        }
        catch (AgentStreamWriteException ex) when (ex.Failure == AgentStreamWriteFailure.Expired)
        {
            // The run outlived its stream (expired or evicted while the run was unfinished): its readers were told the
            // stream expired, and every further attempt would be refused the same way. End the run failed, in state.
            DurableAgentsLog.StreamExpired(_logger, run.RunId, run.Attempts, ex);
            run = await FinishAsync(run, RunStatus.Failed, Text(updates), ExpiredMessage, updates);
            activity?.SetStatus(ActivityStatusCode.Error, "stream expired");
            Ended(activity, run, started);
        }
        catch (Exception ex) when (ex is not AgentStreamWriteException)
        {
            // The exception's text (model SDK, tool, JSON parser) stays in the log; readers get a fixed message and an
            // id to find it.
            var errorId = Guid.NewGuid().ToString("N")[..16];
            DurableAgentsLog.AttemptFailed(_logger, run.RunId, run.Attempts, errorId, ex);
            var message = $"The agent failed. Error id {errorId}.";
            run = await FinishAsync(run, RunStatus.Failed, Text(updates), message, updates);
            await _callback.OnRunFailedAsync(message, context);
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            Ended(activity, run, started);
        }
    }

    private AIAgent CreateAgent()
    {
        if (!_options.Agents.TryGetValue(_agentName, out var factory))
        {
            throw new InvalidOperationException($"Unknown agent '{DurableAgentNames.Sanitize(_agentName)}': no worker of this cluster hosts it.");
        }

        return factory(ServiceProvider);
    }

    private List<ChatMessage> BuildMessages(RunInfo run) => ModelHistory.Build(State.History, run.Message, _options.HistoryWindow);

    private async Task<RunInfo> FinishAsync(RunInfo run, RunStatus status, string responseText, string? error, List<AgentResponseUpdate>? updates = null, bool cancelled = false)
    {
        var now = _time.GetUtcNow();
        if (status == RunStatus.Failed && run.Attempts > 0)
        {
            // The question stays in the history, marked failed (as cancelled answers are marked); it is not replayed
            // to the model, which never answered it.
            State.History.Add(new ConversationMessage { Role = "user", Text = run.Message, RunId = run.RunId, CreatedAt = run.CreatedAt, Failed = true });
        }
        else if (status == RunStatus.Completed || cancelled)
        {
            // History is written before the terminal entry: a reader that sees `done` can fetch the answer.
            State.History.Add(new ConversationMessage { Role = "user", Text = run.Message, RunId = run.RunId, CreatedAt = run.CreatedAt });
            State.History.Add(new ConversationMessage
            {
                Role = "assistant",
                Text = responseText,
                RunId = run.RunId,
                CreatedAt = now,
                Cancelled = cancelled,
                ToolCalls = updates is null ? [] : ToolCalls(updates),
            });
        }

        // The answer of a completed or cancelled run lives in the history; storing it in the run too would double
        // the state every write rewrites. Only a failed run (no history entry) keeps its partial text here.
        var stored = Update(run with { Status = status, CompletedAt = now, ResponseText = status == RunStatus.Failed ? responseText : null, Error = error });
        run = stored with { ResponseText = responseText };
        State.LastActivity = now;
        await _state.WriteStateAsync();
        await _index.TouchAsync(Key, now);
        DurableAgentsLog.RunEnded(_logger, run.RunId, status);
        DurableAgentsDiagnostics.RunsCounter.Add(1, Tag(DurableAgentsDiagnostics.Tags.Outcome, status.ToString().ToLowerInvariant()));
        return run;
    }

    private async Task WriteTerminalAsync(RunInfo run, AgentStreamEntry terminal)
    {
        var context = new AgentResponseCallbackContext(_agentName, _conversationId, run.RunId, Math.Max(1, run.Attempts), run.TraceParent);
        try
        {
            if (terminal.Kind == StreamEntryKind.Cancelled)
            {
                await _callback.OnRunCancelledAsync(terminal.Error ?? "The run was cancelled.", context);
            }
            else
            {
                await _callback.OnRunFailedAsync(terminal.Error ?? "The run failed.", context);
            }
        }
        catch (AgentStreamWriteException ex) when (ex.Failure == AgentStreamWriteFailure.AlreadyTerminated)
        {
            // Already ended in the stream (e.g. written before a crash): exactly one terminal entry stays.
        }
        catch (AgentStreamWriteException ex) when (ex.Failure == AgentStreamWriteFailure.Expired)
        {
            // The stream is gone and its readers were told so; the run's end is recorded in state only.
            DurableAgentsLog.StreamExpired(_logger, run.RunId, run.Attempts, ex);
        }
    }

    private RunInfo Update(RunInfo run)
    {
        var index = State.Runs.FindIndex(r => r.RunId == run.RunId);
        if (index >= 0)
        {
            // Keep a cancellation that arrived while this attempt was running.
            run = run with { CancelRequested = run.CancelRequested || State.Runs[index].CancelRequested };
            State.Runs[index] = run;
        }

        return run;
    }

    private Activity? StartRunActivity(RunInfo run)
    {
        ActivityContext.TryParse(run.TraceParent, null, out var parent);
        var activity = DurableAgentsDiagnostics.ActivitySource.StartActivity($"invoke_agent {_agentName}", ActivityKind.Internal, parent);
        if (activity is not null)
        {
            activity.SetTag(DurableAgentsDiagnostics.Tags.AgentName, _agentName);
            activity.SetTag(DurableAgentsDiagnostics.Tags.ConversationId, _conversationId);
            activity.SetTag(DurableAgentsDiagnostics.Tags.RunId, run.RunId);
            activity.SetTag(DurableAgentsDiagnostics.Tags.Attempt, run.Attempts);
        }

        return activity;
    }

    private static void Ended(Activity? activity, RunInfo run, long started)
    {
        activity?.SetTag(DurableAgentsDiagnostics.Tags.Outcome, run.Status.ToString().ToLowerInvariant());
        DurableAgentsDiagnostics.RunDurationHistogram.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, Tag(DurableAgentsDiagnostics.Tags.Outcome, run.Status.ToString().ToLowerInvariant()));
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

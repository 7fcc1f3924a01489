using System.Diagnostics;
using AgentStreaming.DurableAgents.Diagnostics;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.DurableAgents.Recovery;
using AgentStreaming.DurableAgents.Storage;
using AgentStreaming.Streaming.Callbacks;
using AgentStreaming.Streaming.Streams;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace AgentStreaming.DurableAgents.Grains;

/// <summary>
/// The durable conversation: accepts runs (persisted before the answer), executes them one at a time outside the
/// grain's request turns (so cancel and queries interleave with a long generation), and records each finished run in
/// the conversation's history before its terminal entry.
/// </summary>
/// <remarks>
/// The parts, each named for what it does: <see cref="RunQueue"/> (the runs in flight, the grain's persisted state),
/// <see cref="RunAttempt"/> (one attempt's execution and its stream), <see cref="RunLease"/> (the claim that lets
/// another worker re-drive the run if this one dies), <see cref="ConversationHistory"/> (finished runs, appended one
/// turn at a time) and <see cref="ConversationExpiry"/>. A run ends in this order: its turn is appended to the history,
/// the terminal entry is written, the run leaves the queue. A crash between the first and the last step is finished by
/// the next activation, which writes the terminal entry from the recorded turn instead of running the model again.
/// </remarks>
internal sealed class AgentConversationGrain : Grain, IAgentConversationGrain, IRemindable, IIncomingGrainCallFilter
{
    private readonly IPersistentState<ConversationState> _state;
    private readonly DurableAgentsOptions _options;
    private readonly IAgentResponseCallback _callback;
    private readonly RunLeaseStore _leases;
    private readonly ConversationHistoryStore _historyStore;
    private readonly ConversationIndex _index;
    private readonly RunIndex _runs;
    private readonly TimeProvider _time;
    private readonly ILogger<AgentConversationGrain> _logger;
    private string _agentName = string.Empty;
    private string _conversationId = string.Empty;
    private RunQueue _queue = null!;
    private ConversationHistory _history = null!;
    private RunLease _lease = null!;
    private ConversationExpiry _expiry = null!;
    private Task? _processing;
    private string? _currentRunId;
    private CancellationTokenSource? _currentRun;
    private bool _handingOver;

    public AgentConversationGrain(
        [PersistentState("conversation", DurableAgentNames.StorageProvider)] IPersistentState<ConversationState> state,
        IOptions<DurableAgentsOptions> options,
        IAgentResponseCallback callback,
        RunLeaseStore leases,
        ConversationHistoryStore historyStore,
        ConversationIndex index,
        RunIndex runs,
        TimeProvider time,
        ILogger<AgentConversationGrain> logger)
    {
        _state = state;
        _options = options.Value;
        _callback = callback;
        _leases = leases;
        _historyStore = historyStore;
        _index = index;
        _runs = runs;
        _time = time;
        _logger = logger;
    }

    private string Key => this.GetPrimaryKeyString();

    private ConversationState State => _state.State;

    /// <summary>
    /// Drops this activation when Redis no longer holds the state it last wrote (a Redis that restarted without its
    /// data, or was replaced): its writes can never succeed again, so the next call gets an activation that reads what
    /// Redis holds now. The failed call reaches its caller as "unavailable" (<see cref="Client.DurableAgentsFailures"/>),
    /// which a retry resolves.
    /// </summary>
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (InconsistentStateException ex)
        {
            DurableAgentsLog.StateLostUnderneath(_logger, Key, ex);
            DeactivateOnIdle();
            throw;
        }
    }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_agentName, _conversationId) = DurableAgentNames.ParseConversationKey(Key);
        _queue = new RunQueue(State.Runs);
        _history = new ConversationHistory(_historyStore, Key);
        _lease = new RunLease(this, _leases, _options, Key);
        _expiry = new ConversationExpiry(this, _options.ConversationTtl, _time);
        await _history.LoadAsync();
        if (_expiry.IsDue(State.LastActivity, _queue.HasUnfinished))
        {
            await _state.ClearStateAsync(cancellationToken);
            await _history.DeleteAsync();
            _queue = new RunQueue(State.Runs);
        }

        await FinishRecordedRunsAsync();
        if (_queue.HasUnfinished)
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
            if (_queue.HasUnfinished)
            {
                try
                {
                    await _lease.HandOverAsync();
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
            else
            {
                _lease.Stop();
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

        var runId = request.RunId ?? RunIds.New();
        if (!RunIds.IsValid(runId))
        {
            throw new ArgumentException("A run id is 1 to 128 letters, digits, '-', '_' or '.'.", nameof(request));
        }

        if (FindRun(runId) is { } existing)
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
            Foreground = request.Foreground,
        };
        _queue.Enqueue(run);
        State.LastActivity = now;
        // The conversation belongs to whoever started it; later runs (whoever sends them) inherit that owner.
        var owned = State.Owner is null && _queue.Runs.Count == 1 && !_history.Runs.Any();
        if (owned)
        {
            State.Owner = request.Owner;
        }

        // One round trip: the state write, the recovery claim and the index entries go out together. A claim without
        // a stored run is harmless (recovery finds nothing unfinished and drops it); the answer waits for all three.
        try
        {
            await Task.WhenAll(
                _state.WriteStateAsync(),
                _lease.ClaimAsync(),
                _index.TouchAsync(Key, now, State.Owner),
                _runs.RecordAsync(runId, new RunLocation(_agentName, _conversationId) { Owner = State.Owner }, _options.ConversationTtl, run.TraceParent));
        }
        catch when (_currentRunId != runId && _queue.Find(runId) is { Status: RunStatus.Queued })
        {
            // Not accepted: the caller hears so ("unavailable" when Redis failed over or is down, so it tries again).
            // The run leaves memory too, or the next state write would store, and the loop run, a run whose caller
            // never got its id. Had the write reached Redis after all (a lost reply), the next write finds the stored
            // state changed, and the next activation reads it, run included, and runs it.
            _queue.Remove(runId);
            if (owned)
            {
                State.Owner = null;
            }

            throw;
        }
        DurableAgentsDiagnostics.RunsAcceptedCounter.Add(1, new KeyValuePair<string, object?>(DurableAgentsDiagnostics.Tags.AgentName, _agentName));
        DurableAgentsLog.RunAccepted(_logger, _agentName, _conversationId, runId);
        DurableAgentsLog.RunMessage(_logger, runId, request.Message);
        StartProcessing();
        await _expiry.EnsureReminderAsync();
        return Handle(run);
    }

    public async Task<RunInfo?> CancelRunAsync(string runId)
    {
        if (_history.FindRun(runId) is { } ended)
        {
            return ended;
        }

        if (_queue.Ending(runId) is { } ending)
        {
            // Its outcome is decided and being recorded: the cancel comes too late, and the answer says how it ended.
            return ending;
        }

        if (_queue.Find(runId) is not { } run)
        {
            return null;
        }

        if (run.Status.IsFinal() || run.CancelRequested)
        {
            return run;
        }

        DurableAgentsDiagnostics.CancelsCounter.Add(1, new KeyValuePair<string, object?>(DurableAgentsDiagnostics.Tags.AgentName, _agentName));
        if (_currentRunId == runId)
        {
            // Stop the generation before awaiting anything: while the write is in flight the attempt could otherwise
            // finish as completed after this call has answered "cancellation requested".
            _queue.RequestCancel(runId);
            _currentRun?.Cancel();
            await _state.WriteStateAsync();
            return FindRun(runId);
        }

        // Queued behind another run: it ends now, without ever running. Marked as being ended before any await, so the
        // execution loop cannot take it meanwhile.
        try
        {
            // Kept in the queue too: a state write of the execution loop meanwhile persists the request.
            _queue.RequestCancel(runId);
            var cancelled = await RecordEndAsync(run with { CancelRequested = true }, RunStatus.Cancelled, string.Empty, error: null);
            await RunAttempt.WriteTerminalAsync(_callback, _logger, Context(cancelled, cancelled.Attempts), cancelled, string.Empty);
            await LeaveQueueAsync(cancelled);
            return cancelled;
        }
        catch
        {
            // Memory may now differ from storage: a fresh activation reloads both.
            DeactivateOnIdle();
            throw;
        }
    }

    public Task<ConversationSnapshot> GetConversationAsync()
    {
        var runs = _history.Runs.Concat(_queue.Runs.Where(r => !_history.Contains(r.RunId)))
            .OrderBy(r => r.CreatedAt)
            .ToList();
        if (runs.Count > _options.MaxRunsKept)
        {
            runs.RemoveRange(0, runs.Count - _options.MaxRunsKept);
        }

        return Task.FromResult(new ConversationSnapshot
        {
            AgentName = _agentName,
            ConversationId = _conversationId,
            History = [.. _history.Messages],
            Runs = runs,
            LastActivity = State.LastActivity,
            HostedBy = $"{Environment.MachineName}/{Environment.ProcessId}",
            Owner = State.Owner,
        });
    }

    public Task<RunInfo?> GetRunAsync(string runId) => Task.FromResult(FindRun(runId));

    public Task ResumeAsync()
    {
        if (_queue.HasUnfinished)
        {
            StartProcessing();
            return Task.CompletedTask;
        }

        return _processing is { IsCompleted: false } ? Task.CompletedTask : _lease.ReleaseAsync();
    }

    public async Task<bool> ExpireIfIdleAsync()
    {
        if (!_expiry.IsDue(State.LastActivity, _queue.HasUnfinished))
        {
            return false;
        }

        await _state.ClearStateAsync();
        _queue = new RunQueue(State.Runs);
        await _history.DeleteAsync();
        await _index.RemoveAsync(Key);
        await _expiry.UnregisterAsync();
        DurableAgentsLog.Expired(_logger, Key);
        DeactivateOnIdle();
        return true;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ConversationExpiry.ReminderName)
        {
            await ExpireIfIdleAsync();
        }
    }

    private RunInfo? FindRun(string runId) => _history.FindRun(runId) ?? _queue.Find(runId);

    private RunHandle Handle(RunInfo run) => new(_agentName, _conversationId, run.RunId, "agent-stream:" + run.RunId, run.Status);

    private AgentResponseCallbackContext Context(RunInfo run, int attempt)
        => new(_agentName, _conversationId, run.RunId, Math.Max(1, attempt), run.TraceParent);

    private void StartProcessing()
    {
        _lease.Hold();
        if (_processing is null || _processing.IsCompleted)
        {
            _processing = ProcessAsync();
        }
    }

    private async Task ProcessAsync()
    {
        // Leave the accepting call's turn first: the caller gets its answer before the agent starts.
        await Task.Yield();
        try
        {
            while (true)
            {
                while (!_handingOver && _queue.Next() is { } run)
                {
                    await ExecuteAsync(run);
                }

                if (_handingOver)
                {
                    break;
                }

                await _lease.ReleaseAsync();
                // A run accepted while the claim was being dropped found this loop still going and started none: it is
                // this loop's to run, and its claim (sent before or after the drop) is made again. From the last check
                // to the end of this method nothing is awaited, so a later acceptance finds the loop ended.
                if (_handingOver || _queue.Next() is null)
                {
                    break;
                }

                _lease.Hold();
                await _lease.ClaimAsync();
            }
        }
        catch (Exception ex)
        {
            // State in memory may differ from storage now; reload it in a fresh activation. The lease lapses and
            // recovery re-drives the unfinished run.
            DurableAgentsLog.ProcessingFailed(_logger, Key, ex);
            _lease.Stop();
            DeactivateOnIdle();
        }
    }

    private async Task ExecuteAsync(RunInfo run)
    {
        // The cancellation source exists from the moment the run is taken, so a cancel that arrives while the attempt
        // is being persisted or the stream opened is not lost.
        using var cts = new CancellationTokenSource();
        _currentRunId = run.RunId;
        _currentRun = cts;
        try
        {
            if (run.CancelRequested)
            {
                var cancelled = await RecordEndAsync(run, RunStatus.Cancelled, run.ResponseText ?? string.Empty, error: null);
                await RunAttempt.WriteTerminalAsync(_callback, _logger, Context(cancelled, cancelled.Attempts), cancelled, string.Empty);
                await LeaveQueueAsync(cancelled);
                return;
            }

            if (run.Attempts >= _options.MaxAttempts)
            {
                var message = $"The run was abandoned after {run.Attempts} attempts: its worker stopped each time before it finished.";
                var abandoned = await RecordEndAsync(run, RunStatus.Failed, string.Empty, message);
                // As a further attempt, so a stale writer of the last one is fenced out before the error is written.
                await RunAttempt.WriteTerminalAsync(_callback, _logger, Context(abandoned, abandoned.Attempts + 1), abandoned, string.Empty);
                await LeaveQueueAsync(abandoned);
                return;
            }

            // Persist the attempt before anything is streamed: a crash from here on re-drives as the next attempt.
            run = _queue.Update(run with { Attempts = run.Attempts + 1, Status = RunStatus.Running, StartedAt = run.StartedAt ?? _time.GetUtcNow() });
            await _state.WriteStateAsync();
            using var attempt = new RunAttempt(_callback, _logger, _agentName, _conversationId, run);
            var result = await attempt.ExecuteAsync(CreateAgent, ModelHistory.Build(_history.Messages, run.Message, _options.HistoryWindow), cts, () => _handingOver);
            if (result.Outcome == AttemptOutcome.HandedOver)
            {
                // The run stays running in storage; another worker's next attempt takes it.
                return;
            }

            if (result.Outcome == AttemptOutcome.Completed && cts.IsCancellationRequested && !_handingOver)
            {
                // A cancel answered while the attempt flushed its last entries wins. Nothing is awaited from this check
                // to the run's MarkEnding, so every cancel either lands before it (and the run ends cancelled) or finds
                // the run being ended (and is answered with its final status).
                result = result with { Outcome = AttemptOutcome.Cancelled, Response = null };
            }

            var recorded = result.Outcome switch
            {
                AttemptOutcome.Completed => await RecordEndAsync(run, RunStatus.Completed, result.Text, error: null, result.ToolCalls),
                AttemptOutcome.Cancelled => await RecordEndAsync(run, RunStatus.Cancelled, result.Text, error: null, result.ToolCalls),
                _ => await RecordEndAsync(run, RunStatus.Failed, result.Text, result.Error, result.ToolCalls),
            };
            await attempt.EndAsync(result, recorded);
            await LeaveQueueAsync(recorded);
        }
        finally
        {
            _currentRunId = null;
            _currentRun = null;
        }
    }

    private AIAgent CreateAgent()
    {
        if (!_options.Agents.TryGetValue(_agentName, out var factory))
        {
            throw new InvalidOperationException($"Unknown agent '{DurableAgentNames.Sanitize(_agentName)}': no worker of this cluster hosts it.");
        }

        // The Agent Framework's own telemetry (invoke_agent per the GenAI semantic conventions, with the agent's name and
        // provider, its messages only when OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT is true), unless the
        // factory already added it.
        var agent = factory(ServiceProvider);
        return agent.GetService<OpenTelemetryAgent>() is null
            ? agent.AsBuilder().UseOpenTelemetry().Build(ServiceProvider)
            : agent;
    }

    /// <summary>
    /// Records how a run ended: marks it as being ended in the queue at once (before any await), then appends its turn to the
    /// history (<c>RPUSH</c>: this turn's bytes only). The terminal entry and <see cref="LeaveQueueAsync"/> follow.
    /// </summary>
    private async Task<RunInfo> RecordEndAsync(RunInfo run, RunStatus status, string responseText, string? error, List<ToolCallRecord>? toolCalls = null)
    {
        // Tool calls come from an attempt of this activation: only then was there an answer (partial when cancelled).
        var answered = toolCalls is not null;
        var now = _time.GetUtcNow();
        // The answer of a completed or cancelled run lives in its messages; only a failed run keeps its partial text in
        // the run record.
        var ended = _queue.MarkEnding(run with { Status = status, CompletedAt = now, ResponseText = status == RunStatus.Failed ? responseText : null, Error = error });
        List<ConversationMessage> messages = [];
        if (status == RunStatus.Failed && run.Attempts > 0)
        {
            // The question stays in the history, marked failed (as cancelled answers are marked); it is not replayed
            // to the model, which never answered it.
            messages.Add(new ConversationMessage { Role = "user", Text = run.Message, RunId = run.RunId, CreatedAt = run.CreatedAt, Failed = true });
        }
        else if (status == RunStatus.Completed || (status == RunStatus.Cancelled && answered))
        {
            messages.Add(new ConversationMessage { Role = "user", Text = run.Message, RunId = run.RunId, CreatedAt = run.CreatedAt });
            messages.Add(new ConversationMessage
            {
                Role = "assistant",
                Text = responseText,
                RunId = run.RunId,
                CreatedAt = now,
                Cancelled = status == RunStatus.Cancelled,
                ToolCalls = toolCalls ?? [],
            });
        }

        await _history.RecordAsync([new ConversationTurn(ended, messages)], _options.ConversationTtl);
        State.LastActivity = now;
        DurableAgentsLog.RunEnded(_logger, run.RunId, status);
        DurableAgentsDiagnostics.RunsCounter.Add(1, new KeyValuePair<string, object?>(DurableAgentsDiagnostics.Tags.Outcome, status.ToString().ToLowerInvariant()));
        if (run.Attempts > 0)
        {
            DurableAgentsDiagnostics.AttemptsHistogram.Record(
                run.Attempts,
                new KeyValuePair<string, object?>(DurableAgentsDiagnostics.Tags.AgentName, _agentName),
                new KeyValuePair<string, object?>(DurableAgentsDiagnostics.Tags.Outcome, status.ToString().ToLowerInvariant()));
        }
        return _history.FindRun(run.RunId) ?? ended;
    }

    /// <summary>Takes an ended run out of the persisted queue (after its turn and terminal entry are in Redis).</summary>
    private async Task LeaveQueueAsync(RunInfo run)
    {
        _queue.Remove(run.RunId);
        await _state.WriteStateAsync();
        await _index.TouchAsync(Key, State.LastActivity ?? _time.GetUtcNow(), State.Owner);
    }

    /// <summary>
    /// Runs whose turn is in the history but that are still in the queue ended just before a crash: their terminal
    /// entry may be missing. It is written from the record (a terminal entry already there stays the only one).
    /// </summary>
    private async Task FinishRecordedRunsAsync()
    {
        var recorded = _queue.Runs.Where(r => _history.Contains(r.RunId)).Select(r => _history.FindRun(r.RunId)).OfType<RunInfo>().ToList();
        if (recorded.Count == 0)
        {
            return;
        }

        foreach (var run in recorded)
        {
            await RunAttempt.WriteTerminalAsync(_callback, _logger, Context(run, run.Attempts), run, run.ResponseText ?? string.Empty);
            _queue.Remove(run.RunId);
        }

        await _state.WriteStateAsync();
    }
}

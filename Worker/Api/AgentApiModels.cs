using AgentStreaming.DurableAgents;

namespace AgentStreaming.Worker.Api;

/// <summary>The body of <c>POST /agents/{agent}/runs</c>.</summary>
/// <param name="Message">The user's message.</param>
/// <param name="ConversationId">An existing conversation to continue; omit it to start a new one.</param>
public sealed record StartRunRequest(string? Message, string? ConversationId = null);

/// <summary>Links of a run.</summary>
/// <param name="Self">The run's state.</param>
/// <param name="Stream">The run's response stream (SSE or text/plain).</param>
/// <param name="Cancel">Cancels the run (POST).</param>
/// <param name="Conversation">The run's conversation.</param>
public sealed record RunLinks(string Self, string Stream, string Cancel, string Conversation);

/// <summary>A run as the API shows it.</summary>
public sealed record RunView
{
    /// <summary>The agent.</summary>
    public required string Agent { get; init; }

    /// <summary>The conversation.</summary>
    public required string ConversationId { get; init; }

    /// <summary>The run id (128 random bits, hex).</summary>
    public required string RunId { get; init; }

    /// <summary><c>queued</c>, <c>running</c>, <c>completed</c>, <c>failed</c> or <c>cancelled</c>.</summary>
    public required string Status { get; init; }

    /// <summary>Attempts started so far.</summary>
    public int Attempts { get; init; }

    /// <summary>When the run was accepted.</summary>
    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>When its first attempt started.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it ended.</summary>
    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>Whether a cancellation was requested.</summary>
    public bool CancelRequested { get; init; }

    /// <summary>The failure message, if it failed.</summary>
    public string? Error { get; init; }

    /// <summary>The response text once the run ended (partial when cancelled).</summary>
    public string? Response { get; init; }

    /// <summary>The id of the trace the run belongs to (from the W3C trace context of the request that started it).</summary>
    public string? TraceId { get; init; }

    /// <summary>Where to read, cancel and see the run.</summary>
    public required RunLinks Links { get; init; }

    internal static RunView From(string agent, string conversationId, string runId, RunStatus status, RunInfo? run = null) => new()
    {
        Agent = agent,
        ConversationId = conversationId,
        RunId = runId,
        Status = StatusName(run?.Status ?? status),
        Attempts = run?.Attempts ?? 0,
        CreatedAt = run?.CreatedAt,
        StartedAt = run?.StartedAt,
        CompletedAt = run?.CompletedAt,
        CancelRequested = run?.CancelRequested ?? false,
        Error = run?.Error,
        Response = run is { Status: var s } && s.IsFinal() ? run.ResponseText : null,
        TraceId = run?.TraceParent is { } traceParent && System.Diagnostics.ActivityContext.TryParse(traceParent, null, out var trace) ? trace.TraceId.ToHexString() : null,
        Links = AgentApiRoutes.Links(agent, conversationId, runId),
    };

    internal static string StatusName(RunStatus status) => status switch
    {
        RunStatus.Queued => "queued",
        RunStatus.Running => "running",
        RunStatus.Completed => "completed",
        RunStatus.Failed => "failed",
        RunStatus.Cancelled => "cancelled",
        _ => "unknown",
    };
}

/// <summary>A tool call recorded with an answer.</summary>
/// <param name="Name">The tool.</param>
/// <param name="Arguments">Its arguments as JSON.</param>
/// <param name="Result">A summary of its result.</param>
public sealed record ToolCallView(string Name, string? Arguments, string? Result);

/// <summary>A message of a conversation's history.</summary>
/// <param name="Role"><c>user</c> or <c>assistant</c>.</param>
/// <param name="Text">The text.</param>
/// <param name="RunId">The run that asked or answered it.</param>
/// <param name="CreatedAt">When it was recorded.</param>
/// <param name="Cancelled">Whether the answer was cut short by a cancellation.</param>
/// <param name="ToolCalls">The tools called for this answer.</param>
/// <param name="Failed">Whether this is the question of a run that failed.</param>
public sealed record MessageView(string Role, string Text, string RunId, DateTimeOffset CreatedAt, bool Cancelled, IReadOnlyList<ToolCallView> ToolCalls, bool Failed = false);

/// <summary>A conversation: history and runs.</summary>
/// <param name="Agent">The agent.</param>
/// <param name="ConversationId">The conversation id.</param>
/// <param name="LastActivity">When it was last used.</param>
/// <param name="History">Messages, oldest first.</param>
/// <param name="Runs">Runs, oldest first.</param>
public sealed record ConversationView(string Agent, string ConversationId, DateTimeOffset? LastActivity, IReadOnlyList<MessageView> History, IReadOnlyList<RunView> Runs)
{
    internal static ConversationView From(ConversationSnapshot snapshot) => new(
        snapshot.AgentName,
        snapshot.ConversationId,
        snapshot.LastActivity,
        [.. snapshot.History.Select(m => new MessageView(m.Role, m.Text, m.RunId, m.CreatedAt, m.Cancelled, [.. m.ToolCalls.Select(t => new ToolCallView(t.Name, t.Arguments, t.Result))], m.Failed))],
        [.. snapshot.Runs.Select(r => RunView.From(snapshot.AgentName, snapshot.ConversationId, r.RunId, r.Status, r))]);
}

/// <summary>The URL shapes of the API.</summary>
internal static class AgentApiRoutes
{
    public static string Run(string agent, string runId) => $"/agents/{Uri.EscapeDataString(agent)}/runs/{runId}";

    public static string Stream(string agent, string runId) => Run(agent, runId) + "/stream";

    public static string Conversation(string agent, string conversationId) => $"/agents/{Uri.EscapeDataString(agent)}/conversations/{conversationId}";

    public static RunLinks Links(string agent, string conversationId, string runId)
        => new(Run(agent, runId), Stream(agent, runId), Run(agent, runId) + "/cancel", Conversation(agent, conversationId));
}

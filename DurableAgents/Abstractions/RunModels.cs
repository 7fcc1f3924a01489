using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.DurableAgents;

/// <summary>Where a run is in its life.</summary>
[GenerateSerializer]
[Alias("AgentStreaming.RunStatus")]
public enum RunStatus
{
    /// <summary>Accepted and persisted; waits for earlier runs of its conversation.</summary>
    Queued,

    /// <summary>The agent is producing the answer.</summary>
    Running,

    /// <summary>Finished with a response; its stream ends with <c>done</c>.</summary>
    Completed,

    /// <summary>Failed; its stream ends with <c>error</c>.</summary>
    Failed,

    /// <summary>Cancelled; its stream ends with <c>cancelled</c>.</summary>
    Cancelled,
}

/// <summary>Helpers over <see cref="RunStatus"/>.</summary>
public static class RunStatusExtensions
{
    /// <summary>Whether the run has ended.</summary>
    /// <param name="status">The status.</param>
    /// <returns><see langword="true"/> for completed, failed and cancelled runs.</returns>
    public static bool IsFinal(this RunStatus status) => status is RunStatus.Completed or RunStatus.Failed or RunStatus.Cancelled;
}

/// <summary>Where a run belongs: its agent and conversation.</summary>
/// <param name="AgentName">The agent.</param>
/// <param name="ConversationId">The conversation.</param>
public readonly record struct RunLocation(string AgentName, string ConversationId)
{
    /// <summary>
    /// The principal that owns the run's conversation (the one that started it), as recorded in the run index, or
    /// <see langword="null"/> for a conversation started without one. Hosts check it before they show a run.
    /// </summary>
    public string? Owner { get; init; }
}

/// <summary>A request to run the agent on one message of a conversation.</summary>
/// <param name="Message">The user's message.</param>
/// <param name="RunId">The caller's run id for idempotent retries, or <see langword="null"/> for a new one.</param>
/// <param name="TraceParent">The caller's W3C trace context, so the run's spans join the caller's trace.</param>
/// <param name="Foreground">The caller's word that it cancels the run if it leaves (see <see cref="RunInfo.Foreground"/>).</param>
/// <param name="Owner">The principal starting the run: it becomes the conversation's owner when the conversation is new (a conversation keeps its first owner).</param>
[GenerateSerializer]
[Alias("AgentStreaming.RunRequest")]
public sealed record RunRequest(
    [property: Id(0)] string Message,
    [property: Id(1)] string? RunId = null,
    [property: Id(2)] string? TraceParent = null,
    [property: Id(3)] bool Foreground = false,
    [property: Id(4)] string? Owner = null);

/// <summary>What a caller gets back when a run is accepted.</summary>
/// <param name="AgentName">The agent.</param>
/// <param name="ConversationId">The conversation.</param>
/// <param name="RunId">The run id (128 random bits unless the caller chose it).</param>
/// <param name="StreamKey">The Redis Stream key of the run's response.</param>
/// <param name="Status">The run's status when the answer was sent.</param>
[GenerateSerializer]
[Alias("AgentStreaming.RunHandle")]
public sealed record RunHandle(
    [property: Id(0)] string AgentName,
    [property: Id(1)] string ConversationId,
    [property: Id(2)] string RunId,
    [property: Id(3)] string StreamKey,
    [property: Id(4)] RunStatus Status);

/// <summary>A run of a conversation, as persisted.</summary>
[GenerateSerializer]
[Alias("AgentStreaming.RunInfo")]
public sealed record RunInfo
{
    /// <summary>The run id.</summary>
    [Id(0)] public required string RunId { get; init; }

    /// <summary>The user's message.</summary>
    [Id(1)] public required string Message { get; init; }

    /// <summary>The status.</summary>
    [Id(2)] public RunStatus Status { get; init; }

    /// <summary>Attempts started so far (attempts after the first follow crashes).</summary>
    [Id(3)] public int Attempts { get; init; }

    /// <summary>When the run was accepted.</summary>
    [Id(4)] public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When its first attempt started.</summary>
    [Id(5)] public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it ended.</summary>
    [Id(6)] public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>The failure message, if it failed.</summary>
    [Id(7)] public string? Error { get; init; }

    /// <summary>The response text (partial when cancelled).</summary>
    [Id(8)] public string? ResponseText { get; init; }

    /// <summary>Whether a cancellation was requested.</summary>
    [Id(9)] public bool CancelRequested { get; init; }

    /// <summary>The W3C trace context of the request that started the run.</summary>
    [Id(10)] public string? TraceParent { get; init; }

    /// <summary>
    /// Whether the caller that started it said it would cancel it if it left (a foreground run, e.g. an OpenAI response
    /// without <c>background</c>). Kept for callers to report back; the run itself is as durable either way, and runs
    /// are background runs unless their caller says so.
    /// </summary>
    [Id(11)] public bool Foreground { get; init; }
}

/// <summary>A tool call the agent made while answering.</summary>
/// <param name="Name">The tool's name.</param>
/// <param name="Arguments">The arguments as JSON.</param>
/// <param name="Result">A summary of the result.</param>
[GenerateSerializer]
[Alias("AgentStreaming.ToolCallRecord")]
public sealed record ToolCallRecord([property: Id(0)] string Name, [property: Id(1)] string? Arguments, [property: Id(2)] string? Result);

/// <summary>One message of a conversation's history.</summary>
[GenerateSerializer]
[Alias("AgentStreaming.ConversationMessage")]
public sealed record ConversationMessage
{
    /// <summary><c>user</c> or <c>assistant</c>.</summary>
    [Id(0)] public required string Role { get; init; }

    /// <summary>The text.</summary>
    [Id(1)] public required string Text { get; init; }

    /// <summary>The run that produced (or asked) it.</summary>
    [Id(2)] public required string RunId { get; init; }

    /// <summary>When it was recorded.</summary>
    [Id(3)] public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Whether the answer was cut short by a cancellation.</summary>
    [Id(4)] public bool Cancelled { get; init; }

    /// <summary>The tools the agent called for this answer.</summary>
    [Id(5)] public IReadOnlyList<ToolCallRecord> ToolCalls { get; init; } = [];

    /// <summary>Whether this is the question of a run that failed (kept in the history, not replayed to the model).</summary>
    [Id(6)] public bool Failed { get; init; }
}

/// <summary>A conversation: its history and its runs.</summary>
[GenerateSerializer]
[Alias("AgentStreaming.ConversationSnapshot")]
public sealed record ConversationSnapshot
{
    /// <summary>The agent.</summary>
    [Id(0)] public required string AgentName { get; init; }

    /// <summary>The conversation id.</summary>
    [Id(1)] public required string ConversationId { get; init; }

    /// <summary>The messages, oldest first (a run's question and answer are recorded together when it ends).</summary>
    [Id(2)] public IReadOnlyList<ConversationMessage> History { get; init; } = [];

    /// <summary>The runs, oldest first.</summary>
    [Id(3)] public IReadOnlyList<RunInfo> Runs { get; init; } = [];

    /// <summary>When the conversation was last used, if ever.</summary>
    [Id(4)] public DateTimeOffset? LastActivity { get; init; }

    /// <summary>The worker process holding the conversation right now, as <c>machine/processId</c>.</summary>
    [Id(5)] public string? HostedBy { get; init; }

    /// <summary>The principal that started the conversation, or <see langword="null"/> when it was started without one.</summary>
    [Id(6)] public string? Owner { get; init; }

    /// <summary>Whether the conversation exists (has any run).</summary>
    public bool Exists => Runs.Count > 0;
}

/// <summary>Names shared by the runtime's parts.</summary>
public static class DurableAgentNames
{
    /// <summary>The Orleans grain storage provider that holds conversations.</summary>
    public const string StorageProvider = "agents";

    /// <summary>Builds the grain key of a conversation: <c>{agentName}/{conversationId}</c>.</summary>
    /// <param name="agentName">The agent.</param>
    /// <param name="conversationId">The conversation.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException">A part is not 1–128 letters, digits, '-', '_' or '.'.</exception>
    public static string ConversationKey(string agentName, string conversationId)
    {
        if (!RunIds.IsValid(agentName))
        {
            throw new ArgumentException($"'{Sanitize(agentName)}' is not a valid agent name: use 1 to 128 letters, digits, '-', '_' or '.'.", nameof(agentName));
        }

        if (!RunIds.IsValid(conversationId))
        {
            throw new ArgumentException($"'{Sanitize(conversationId)}' is not a valid conversation id: use 1 to 128 letters, digits, '-', '_' or '.'.", nameof(conversationId));
        }

        return agentName + "/" + conversationId;
    }

    /// <summary>Splits a conversation grain key.</summary>
    /// <param name="key">The key.</param>
    /// <returns>The agent name and conversation id.</returns>
    public static (string AgentName, string ConversationId) ParseConversationKey(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? (key, string.Empty) : (key[..slash], key[(slash + 1)..]);
    }

    /// <summary>A new unguessable conversation id (128 random bits).</summary>
    /// <returns>The id.</returns>
    public static string NewConversationId() => RunIds.New();

    /// <summary>A new unguessable run id (128 random bits).</summary>
    /// <returns>The id.</returns>
    public static string NewRunId() => RunIds.New();

    /// <summary>Whether <paramref name="id"/> can name an agent, a conversation or a run: 1 to 128 letters, digits, '-', '_' or '.'.</summary>
    /// <param name="id">The id.</param>
    /// <returns><see langword="true"/> when it is well formed (whether it exists is another matter).</returns>
    public static bool IsValidId([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? id) => RunIds.IsValid(id);

    internal static string Sanitize(string? value)
    {
        if (value is null)
        {
            return "(null)";
        }

        var clipped = value.Length > 64 ? value[..64] + "…" : value;
        return string.Concat(clipped.Select(c => char.IsControl(c) ? '?' : c));
    }
}

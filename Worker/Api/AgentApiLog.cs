namespace AgentStreaming.Worker.Api;

/// <summary>Log messages of the HTTP API. User text is logged only at Trace, and clipped.</summary>
internal static partial class AgentApiLog
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Run {RunId} of {Agent} accepted in conversation {ConversationId} ({MessageLength} characters, mode {Mode}).")]
    public static partial void RunAccepted(ILogger logger, string runId, string agent, string conversationId, int messageLength, string mode);

    /// <summary>Logs the user's message (clipped, control characters replaced) at Trace only.</summary>
    public static void RunMessage(ILogger logger, string runId, string message)
    {
        if (logger.IsEnabled(LogLevel.Trace))
        {
#pragma warning disable CA1873 // Guarded by IsEnabled above; the analyzer does not see the guard.
            RunMessageCore(logger, runId, Sanitize(message));
#pragma warning restore CA1873
        }
    }

    [LoggerMessage(EventId = 7002, Level = LogLevel.Trace, Message = "Run {RunId} message: {Message}")]
    private static partial void RunMessageCore(ILogger logger, string runId, string message);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Debug, Message = "Stream of run {RunId} opened as {Format} after cursor {Cursor}.")]
    public static partial void StreamOpened(ILogger logger, string runId, string format, string cursor);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Debug, Message = "Stream of run {RunId} ended after {Events} events ({Reason}).")]
    public static partial void StreamEnded(ILogger logger, string runId, int events, string reason);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Warning, Message = "Unauthenticated {Method} {Path} from {RemoteAddress}.")]
    public static partial void Unauthorized(ILogger logger, string method, string path, string remoteAddress);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Warning, Message = "Rate limit on {Budget} hit by {RemoteAddress}.")]
    public static partial void RateLimited(ILogger logger, string remoteAddress, string budget);

    [LoggerMessage(EventId = 7007, Level = LogLevel.Information, Message = "Cancellation of run {RunId} requested (status {Status}).")]
    public static partial void CancelRequested(ILogger logger, string runId, string status);

    [LoggerMessage(EventId = 7008, Level = LogLevel.Warning, Message = "Stream of run {RunId} stopped: {Reason}")]
    public static partial void StreamFailed(ILogger logger, string runId, string reason, Exception exception);

    [LoggerMessage(EventId = 7009, Level = LogLevel.Warning, Message = "Fault injection: aborting the stream of run {RunId} after {Events} events.")]
    public static partial void FaultInjected(ILogger logger, string runId, int events);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Warning, Message = "{Method} {Path} answered 503 (error id {ErrorId}): Redis or the durable runtime is unreachable.")]
    public static partial void RequestUnavailable(ILogger logger, string errorId, string method, string path, Exception exception);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Error, Message = "{Method} {Path} failed (error id {ErrorId}).")]
    public static partial void RequestFailed(ILogger logger, string errorId, string method, string path, Exception exception);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Warning, Message = "{Method} {Path} answered 503 (error id {ErrorId}): not connected to Redis.")]
    public static partial void RedisDisconnected(ILogger logger, string errorId, string method, string path);

    /// <summary>Clips user text and replaces control characters, so a log line cannot be forged or flooded.</summary>
    public static string Sanitize(string value)
    {
        var clipped = value.Length > 200 ? string.Concat(value.AsSpan(0, 200), "…") : value;
        return string.Create(clipped.Length, clipped, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? ' ' : source[i];
            }
        });
    }
}

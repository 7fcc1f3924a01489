using Microsoft.Extensions.Logging;

namespace AgentStreaming.DurableAgents.Diagnostics;

internal static partial class DurableAgentsLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Run {RunId} of {AgentName} accepted in conversation {ConversationId}.")]
    public static partial void RunAccepted(ILogger logger, string agentName, string conversationId, string runId);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Run {RunId} attempt {Attempt} started.")]
    public static partial void AttemptStarted(ILogger logger, string runId, int attempt);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Run {RunId} ended: {Status}.")]
    public static partial void RunEnded(ILogger logger, string runId, RunStatus status);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Run {RunId} attempt {Attempt} failed (error id {ErrorId}).")]
    public static partial void AttemptFailed(ILogger logger, string runId, int attempt, string errorId, Exception exception);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Run {RunId} attempt {Attempt} was superseded by a newer attempt; this one stops.")]
    public static partial void AttemptFenced(ILogger logger, string runId, int attempt);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "The stream of run {RunId} expired before attempt {Attempt} ended it; the run is recorded as failed.")]
    public static partial void StreamExpired(ILogger logger, string runId, int attempt, Exception exception);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "Executing the runs of conversation {ConversationKey} failed; the activation will be re-driven.")]
    public static partial void ProcessingFailed(ILogger logger, string conversationKey, Exception exception);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "Recovering conversation {ConversationKey}: its worker stopped renewing its claim.")]
    public static partial void Recovering(ILogger logger, string conversationKey);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Recovering conversation {ConversationKey} failed; it will be retried.")]
    public static partial void RecoveryFailed(ILogger logger, string conversationKey, Exception exception);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "Conversation {ConversationKey} expired and was deleted.")]
    public static partial void Expired(ILogger logger, string conversationKey);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Conversation {ConversationKey} deactivated ({Reason}) with a run unfinished: handed over to the next recovery scan.")]
    public static partial void HandedOver(ILogger logger, string conversationKey, DeactivationReasonCode reason);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Warning, Message = "Conversation {ConversationKey}: Redis no longer holds the state this activation wrote (restarted without its data?); the activation is dropped and the next call reads what Redis holds.")]
    public static partial void StateLostUnderneath(ILogger logger, string conversationKey, Exception exception);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Warning, Message = "The silo waits for Redis before it starts ({Waited:0} s so far): {Problem}")]
    public static partial void WaitingForRedis(ILogger logger, double waited, string problem);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Information, Message = "Redis answered after {Waited:0.0} s; the silo starts.")]
    public static partial void RedisReady(ILogger logger, double waited);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Trace, Message = "Run {RunId} message: {Message}")]
    public static partial void RunMessage(ILogger logger, string runId, string message);
}

using Microsoft.Extensions.Logging;

namespace AgentStreaming.Streaming.Diagnostics;

internal static partial class StreamingLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Writing {Count} entries to the stream of run {RunId} failed: {Reason}")]
    public static partial void WriteFailed(ILogger logger, string runId, int count, AgentStreaming.Streaming.Streams.AgentStreamWriteFailure reason, Exception exception);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "The shared stream tail lost Redis; retrying (failing for {Elapsed}).")]
    public static partial void TailConnectionLost(ILogger logger, TimeSpan elapsed, Exception exception);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "The shared stream tail could not reach Redis for {Elapsed}; failing {Readers} readers.")]
    public static partial void TailGaveUp(ILogger logger, TimeSpan elapsed, int readers, Exception exception);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "The shared stream tail reconnected to Redis after {Elapsed}.")]
    public static partial void TailReconnected(ILogger logger, TimeSpan elapsed);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Reading the stream of run {RunId} failed; retrying (failing for {Elapsed}).")]
    public static partial void ReadRetry(ILogger logger, string runId, TimeSpan elapsed, Exception exception);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Debug, Message = "Waking the shared stream tail failed.")]
    public static partial void WakeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "A reader of run {RunId} found a hole before an entry and filled it with {Count} entries read from Redis.")]
    public static partial void GapFilled(ILogger logger, string runId, int count);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Error, Message = "A reader of run {RunId} found entries {Expected} to {Found} missing and Redis no longer has them; the read fails.")]
    public static partial void GapUnfillable(ILogger logger, string runId, long expected, long found);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Warning, Message = "The shared stream tail connects with the multiplexer's configuration string: set AgentStreaming:Redis:ConnectionString or RedisAgentStreamingOptions.Configuration so certificate callbacks and credentials it cannot carry are kept.")]
    public static partial void TailConfigurationFromString(ILogger logger);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Warning, Message = "Writing to the stream of run {RunId} failed: {Error}; holding its entries and retrying for up to {RetryTimeout}.")]
    public static partial void WriteRetrying(ILogger logger, string runId, string error, TimeSpan retryTimeout, Exception exception);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Information, Message = "Writing to the stream of run {RunId} recovered after {Elapsed}; the attempt continues.")]
    public static partial void WriteRecovered(ILogger logger, string runId, TimeSpan elapsed);
}

using System.Globalization;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Writing;

/// <summary>
/// Maps what the append script answered, or how Redis failed, to the <see cref="AgentStreamWriteException"/> a
/// producer sees, with its <see cref="AgentStreamWriteFailure"/> and a message that says what to do.
/// </summary>
internal static class WriteErrors
{
    /// <summary>A failed batch: the script's refusals (fenced, out of order, expired, terminated) by their prefix, anything else as <see cref="AgentStreamWriteFailure.Redis"/>.</summary>
    public static AgentStreamWriteException FromFailure(string runId, int attempt, Exception ex)
    {
        if (ex is RedisServerException server)
        {
            if (server.Message.Contains(RedisStreamScripts.FencedPrefix, StringComparison.Ordinal))
            {
                return new AgentStreamWriteException(runId, AgentStreamWriteFailure.Fenced,
                    $"Attempt {attempt} of run '{runId}' may no longer write: a newer attempt has taken over the stream.", ex);
            }

            if (IsOutOfOrder(server))
            {
                return new AgentStreamWriteException(runId, AgentStreamWriteFailure.Redis,
                    $"Writing to the stream of run '{runId}' stopped: an earlier batch of this writer was not stored.", ex);
            }

            if (server.Message.Contains(RedisStreamScripts.ExpiredPrefix, StringComparison.Ordinal))
            {
                return new AgentStreamWriteException(runId, AgentStreamWriteFailure.Expired,
                    $"The stream of run '{runId}' expired or was evicted; attempt {attempt} may not write to it (its readers were told it expired).", ex);
            }

            if (server.Message.Contains(RedisStreamScripts.TerminatedPrefix, StringComparison.Ordinal))
            {
                return new AgentStreamWriteException(runId, AgentStreamWriteFailure.AlreadyTerminated,
                    $"The stream of run '{runId}' already holds its terminal entry; nothing more can be written.", ex);
            }
        }

        return new AgentStreamWriteException(runId, AgentStreamWriteFailure.Redis,
            $"Writing to the stream of run '{runId}' failed: {ex.Message}", ex);
    }

    /// <summary>Whether the script refused a batch because this writer's previous batch is not stored.</summary>
    public static bool IsOutOfOrder(RedisServerException ex) => ex.Message.Contains(RedisStreamScripts.OrderPrefix, StringComparison.Ordinal);

    /// <summary>A re-sent batch refused as out of order although every batch before it was confirmed: Redis lost confirmed entries.</summary>
    public static AgentStreamWriteException LostConfirmed(string runId, int attempt, Exception ex)
        => new(runId, AgentStreamWriteFailure.Redis,
            $"Writing to the stream of run '{runId}' stopped: after the outage Redis no longer holds the entries it had confirmed to attempt {attempt} (it restarted without persistence, or failed over to a replica that had not received them).", ex);

    /// <summary>Transient failures that lasted longer than the writer's retry window.</summary>
    public static AgentStreamWriteException Outage(string runId, int attempt, TimeSpan elapsed, TimeSpan retryTimeout, Exception lastError)
        => new(runId, AgentStreamWriteFailure.Redis,
            string.Create(CultureInfo.InvariantCulture,
                $"Writing to the stream of run '{runId}' failed: Redis could not be written to for {elapsed.TotalSeconds:0.0} s, longer than WriteRetryTimeout ({retryTimeout.TotalSeconds:0.0##} s), so attempt {attempt} stops (what Redis confirmed stays in the stream; a send still queued may yet be stored, in order, unless a newer attempt has taken over). Last error: {lastError.Message} Check that Redis is running and reachable; raise AgentStreaming:Redis:WriteRetryTimeout to ride out longer outages."),
            lastError);
}

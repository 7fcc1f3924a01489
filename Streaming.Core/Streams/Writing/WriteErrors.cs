using System.Globalization;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Writing;

/// <summary>
/// Maps what the claim script or the entries' <c>XADD</c>s answered, or how Redis failed, to the <see cref="AgentStreamWriteException"/> a
/// producer sees, with its <see cref="AgentStreamWriteFailure"/> and a message that says what to do.
/// </summary>
internal static class WriteErrors
{
    /// <summary>A failed claim or batch: the claim script's refusals (fenced, expired, terminated) by their prefix, anything else as <see cref="AgentStreamWriteFailure.Redis"/>.</summary>
    public static AgentStreamWriteException FromFailure(string runId, int attempt, Exception ex)
    {
        if (ex is RedisServerException server)
        {
            if (server.Message.Contains(RedisStreamScripts.FencedPrefix, StringComparison.Ordinal))
            {
                return Fenced(runId, attempt, ex);
            }

            if (server.Message.Contains(RedisStreamScripts.ExpiredPrefix, StringComparison.Ordinal))
            {
                return Expired(runId, attempt, ex);
            }

            if (server.Message.Contains(RedisStreamScripts.TerminatedPrefix, StringComparison.Ordinal))
            {
                return Terminated(runId, ex);
            }
        }

        return new AgentStreamWriteException(runId, AgentStreamWriteFailure.Redis,
            $"Writing to the stream of run '{runId}' failed: {ex.Message}", ex);
    }

    /// <summary>A newer claim (a newer attempt, or another writer of this one) has taken over the stream.</summary>
    public static AgentStreamWriteException Fenced(string runId, int attempt, Exception? ex = null)
        => new(runId, AgentStreamWriteFailure.Fenced,
            $"Attempt {attempt} of run '{runId}' may no longer write: a newer attempt (or another writer of this attempt) has taken over the stream.", ex);

    /// <summary>The stream is gone while its metadata says entries were written.</summary>
    public static AgentStreamWriteException Expired(string runId, int attempt, Exception? ex = null)
        => new(runId, AgentStreamWriteFailure.Expired,
            $"The stream of run '{runId}' expired or was evicted; attempt {attempt} may not write to it (its readers were told it expired).", ex);

    /// <summary>The stream's last entry is terminal.</summary>
    public static AgentStreamWriteException Terminated(string runId, Exception? ex = null)
        => new(runId, AgentStreamWriteFailure.AlreadyTerminated,
            $"The stream of run '{runId}' already holds its terminal entry; nothing more can be written.", ex);

    /// <summary>An attempt wrote as many entries as one claim may hold (<see cref="EntryIds.Stride"/> − 1).</summary>
    public static AgentStreamWriteException TooManyEntries(string runId, int attempt)
        => new(runId, AgentStreamWriteFailure.Redis,
            string.Create(CultureInfo.InvariantCulture, $"Attempt {attempt} of run '{runId}' reached {EntryIds.Stride - 1:N0} entries, the most one attempt may write; merge text into fewer, larger entries."));

    /// <summary>Redis refused entries as not above the stream's last id, and the stream shows no newer claim nor these entries.</summary>
    public static AgentStreamWriteException Refused(string runId, int attempt, string lastId)
        => new(runId, AgentStreamWriteFailure.Redis,
            $"Writing to the stream of run '{runId}' stopped: Redis refused entries of attempt {attempt} as not above the stream's last entry ({lastId}), which this writer did not write. Start a new attempt.");

    /// <summary>A re-sent batch found the stream and its metadata gone although every batch before it was confirmed: Redis lost confirmed entries.</summary>
    public static AgentStreamWriteException LostConfirmed(string runId, int attempt, Exception? ex = null)
        => new(runId, AgentStreamWriteFailure.Redis,
            $"Writing to the stream of run '{runId}' stopped: after the outage Redis no longer holds the entries it had confirmed to attempt {attempt} (it restarted without persistence, or failed over to a replica that had not received them).", ex);

    /// <summary>Transient failures that lasted longer than the writer's retry window.</summary>
    public static AgentStreamWriteException Outage(string runId, int attempt, TimeSpan elapsed, TimeSpan retryTimeout, Exception lastError)
        => new(runId, AgentStreamWriteFailure.Redis,
            string.Create(CultureInfo.InvariantCulture,
                $"Writing to the stream of run '{runId}' failed: Redis could not be written to for {elapsed.TotalSeconds:0.0} s, longer than WriteRetryTimeout ({retryTimeout.TotalSeconds:0.0##} s), so attempt {attempt} stops (what Redis confirmed stays in the stream; a send still queued may yet be stored, in order, unless a newer attempt has taken over). Last error: {lastError.Message} Check that Redis is running and reachable; raise AgentStreaming:Redis:WriteRetryTimeout to ride out longer outages."),
            lastError);
}

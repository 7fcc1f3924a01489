namespace AgentStreaming.Streaming.Streams;

/// <summary>A run's stream does not exist: the run id is unknown, or its stream expired.</summary>
public sealed class AgentStreamNotFoundException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="runId">The run whose stream was asked for.</param>
    /// <param name="expiredWhileReading">Whether the stream existed and vanished while it was being read.</param>
    public AgentStreamNotFoundException(string runId, bool expiredWhileReading)
        : base(expiredWhileReading
            ? $"The stream of run '{runId}' expired or was deleted while it was being read. Start a new run to get a new answer."
            : $"The stream of run '{runId}' was not found or has expired. Check the run id; streams expire some minutes after their last entry.")
    {
        RunId = runId;
        ExpiredWhileReading = expiredWhileReading;
    }

    /// <summary>The run whose stream was asked for.</summary>
    public string RunId { get; }

    /// <summary>Whether the stream existed and vanished while it was being read.</summary>
    public bool ExpiredWhileReading { get; }
}

/// <summary>Redis could not be reached for longer than the configured reconnect deadline.</summary>
public sealed class AgentStreamUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed and what to do.</param>
    /// <param name="innerException">The last connection error.</param>
    public AgentStreamUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Why a write to a run's stream was refused.</summary>
public enum AgentStreamWriteFailure
{
    /// <summary>Redis failed or could not be reached.</summary>
    Redis,

    /// <summary>A newer attempt of the run has started writing; this attempt may not write any more.</summary>
    Fenced,

    /// <summary>The run's stream already holds its terminal entry.</summary>
    AlreadyTerminated,

    /// <summary>
    /// The run's stream expired (or was evicted) after entries were written; a late attempt may not start it again,
    /// since its readers were told it expired and may hold cursors into it.
    /// </summary>
    Expired,
}

/// <summary>
/// Appending to a run's stream failed. What Redis confirmed stays in the stream; a batch Redis refused wrote nothing,
/// and after an outage a batch still queued in the client may yet be stored (in order, once) unless a newer attempt has
/// fenced this one out.
/// </summary>
public sealed class AgentStreamWriteException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="runId">The run.</param>
    /// <param name="failure">Why the write was refused.</param>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The Redis error, if any.</param>
    public AgentStreamWriteException(string runId, AgentStreamWriteFailure failure, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        RunId = runId;
        Failure = failure;
    }

    /// <summary>The run.</summary>
    public string RunId { get; }

    /// <summary>Why the write was refused.</summary>
    public AgentStreamWriteFailure Failure { get; }
}

/// <summary>
/// A reader found entries missing between two it received (their <c>sequence</c> numbers are not consecutive) and
/// could not fill the hole from Redis: the entries are no longer stored. It never skips silently.
/// </summary>
public sealed class AgentStreamGapException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="runId">The run.</param>
    /// <param name="afterEntryId">The last entry delivered before the gap.</param>
    /// <param name="expectedSequence">The sequence number that should have come next.</param>
    /// <param name="foundSequence">The sequence number of the entry that came instead.</param>
    public AgentStreamGapException(string runId, string afterEntryId, long expectedSequence, long foundSequence)
        : base($"The stream of run '{runId}' is missing entries {expectedSequence} to {foundSequence - 1} after entry {afterEntryId}; they are no longer in Redis. Read the run again from the start, or start a new run.")
    {
        RunId = runId;
        AfterEntryId = afterEntryId;
        ExpectedSequence = expectedSequence;
        FoundSequence = foundSequence;
    }

    /// <summary>The run.</summary>
    public string RunId { get; }

    /// <summary>The last entry delivered before the gap.</summary>
    public string AfterEntryId { get; }

    /// <summary>The sequence number that should have come next.</summary>
    public long ExpectedSequence { get; }

    /// <summary>The sequence number of the entry that came instead.</summary>
    public long FoundSequence { get; }
}

namespace AgentStreaming.Streaming.Streams;

/// <summary>Builds the Redis keys of a run's stream.</summary>
/// <remarks>
/// The stream key is <c>{prefix}{runId}</c> (default <c>agent-stream:{runId}</c>), which the original sample's readers
/// read when given the run id. A small hash beside it, <c>{prefix}{runId}:meta</c>, holds the writer's fencing state
/// (current attempt, next sequence, terminal flag). Run ids are validated so no key carries arbitrary user text.
/// </remarks>
public sealed class StreamKeys
{
    private readonly string _prefix;

    /// <summary>Creates the key builder.</summary>
    /// <param name="prefix">The key prefix, e.g. <c>agent-stream:</c>.</param>
    public StreamKeys(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        _prefix = prefix;
    }

    /// <summary>The prefix every stream key starts with.</summary>
    public string Prefix => _prefix;

    /// <summary>The stream key of a run.</summary>
    /// <param name="runId">The run id.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException"><paramref name="runId"/> is not a valid run id.</exception>
    public string Stream(string runId) => _prefix + ValidateRunId(runId);

    /// <summary>The metadata hash key of a run.</summary>
    /// <param name="runId">The run id.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException"><paramref name="runId"/> is not a valid run id.</exception>
    public string Meta(string runId) => _prefix + ValidateRunId(runId) + ":meta";

    /// <summary>Checks that a run id is 1–128 characters of letters, digits, <c>-</c>, <c>_</c> or <c>.</c>.</summary>
    /// <param name="runId">The run id.</param>
    /// <returns><paramref name="runId"/>.</returns>
    /// <exception cref="ArgumentException">It is not.</exception>
    public static string ValidateRunId(string runId)
    {
        if (!IsValidRunId(runId))
        {
            throw new ArgumentException(
                "A run id is 1 to 128 characters of letters, digits, '-', '_' or '.', as returned when the run was started.",
                nameof(runId));
        }

        return runId;
    }

    /// <summary>Whether a run id is 1–128 characters of letters, digits, <c>-</c>, <c>_</c> or <c>.</c>.</summary>
    /// <param name="runId">The run id.</param>
    /// <returns>The answer.</returns>
    public static bool IsValidRunId(string? runId)
    {
        if (string.IsNullOrEmpty(runId) || runId.Length > 128)
        {
            return false;
        }

        foreach (var c in runId)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A new globally unique, unguessable run id: 128 random bits as 32 lowercase hex digits.</summary>
    /// <returns>The run id.</returns>
    public static string NewRunId()
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}

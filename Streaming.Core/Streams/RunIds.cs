namespace AgentStreaming.Streaming.Streams;

/// <summary>
/// Run ids: what a valid one is and how a new one is made. A run id names its stream's Redis keys, so it is checked
/// before any key is built: no key carries arbitrary user text.
/// </summary>
public static class RunIds
{
    /// <summary>A new globally unique, unguessable run id: 128 random bits as 32 lowercase hex digits.</summary>
    /// <returns>The run id.</returns>
    public static string New()
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>Whether <paramref name="id"/> is 1–128 characters of letters, digits, <c>-</c>, <c>_</c> or <c>.</c>.</summary>
    /// <param name="id">The id to check.</param>
    /// <returns>The answer; <see langword="false"/> for <see langword="null"/>.</returns>
    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 128)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Checks that <paramref name="id"/> is a valid run id (<see cref="IsValid"/>).</summary>
    /// <param name="id">The id to check.</param>
    /// <param name="paramName">The parameter named in the exception.</param>
    /// <returns><paramref name="id"/>.</returns>
    /// <exception cref="ArgumentException">It is not a valid run id.</exception>
    public static string Validate(string id, string paramName = "runId")
    {
        if (!IsValid(id))
        {
            throw new ArgumentException(
                "A run id is 1 to 128 characters of letters, digits, '-', '_' or '.', as returned when the run was started.",
                paramName);
        }

        return id;
    }
}

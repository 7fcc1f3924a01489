namespace AgentStreaming.Client.Commands;

/// <summary>A failure the client explains to the user and ends with a specific exit code.</summary>
internal sealed class ClientException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="exitCode">One of <see cref="ExitCodes"/>.</param>
    /// <param name="message">What failed and what to do.</param>
    /// <param name="innerException">The cause.</param>
    public ClientException(int exitCode, string message, Exception? innerException = null)
        : base(message, innerException) => ExitCode = exitCode;

    /// <summary>The exit code.</summary>
    public int ExitCode { get; }
}

namespace AgentStreaming.Client;

/// <summary>The client's process exit codes; documented in <c>--help</c> and in docs/client.md.</summary>
internal static class ExitCodes
{
    /// <summary>The run ended with <c>done</c> (or the chat ended normally).</summary>
    public const int Success = 0;

    /// <summary>The run ended with <c>error</c>.</summary>
    public const int RunFailed = 1;

    /// <summary>Invalid command line or configuration: unknown option, malformed cursor, run id, conversation id or Redis connection string.</summary>
    public const int BadArguments = 2;

    /// <summary>The run ended with <c>cancelled</c>.</summary>
    public const int RunCancelled = 3;

    /// <summary>Redis could not be reached.</summary>
    public const int RedisUnreachable = 4;

    /// <summary>No Worker answered within the deadline.</summary>
    public const int NoWorker = 5;

    /// <summary>The run id is unknown or its stream has expired.</summary>
    public const int RunNotFound = 6;

    /// <summary>An unexpected failure (the message says what).</summary>
    public const int Unexpected = 10;

    /// <summary>Detached by Ctrl+C in one-shot or <c>--run</c> mode: the run goes on; the message says how to resume.</summary>
    public const int Detached = 130;

    /// <summary>The table shown by <c>--help</c>.</summary>
    public static IReadOnlyList<(int Code, string Meaning)> Table { get; } =
    [
        (Success, "the run finished (done); the chat ended normally"),
        (RunFailed, "the run ended with an error"),
        (BadArguments, "bad arguments or configuration (unknown option, malformed cursor, run id, conversation id or Redis connection string)"),
        (RunCancelled, "the run was cancelled"),
        (RedisUnreachable, "Redis is unreachable"),
        (NoWorker, "no Worker answered within the deadline (DurableAgents:Client:ConnectTimeout, default 30 s)"),
        (RunNotFound, "the run is unknown or its stream has expired"),
        (Unexpected, "unexpected failure"),
        (Detached, "detached with Ctrl+C (one-shot and --run); the run goes on, resume with --run/--cursor"),
    ];
}

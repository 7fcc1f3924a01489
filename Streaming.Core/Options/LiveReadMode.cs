namespace AgentStreaming.Streaming.Options;

/// <summary>How the shared tail of a process learns of new entries on a single Redis server.</summary>
public enum LiveReadMode
{
    /// <summary>
    /// The default. This library's writers announce the streams each append call changed on the changes channel
    /// (<c>{KeyPrefix}changes</c>, one <c>PUBLISH</c> per call); the tail reads only those, with one non-blocking
    /// <c>XREAD</c>, so Redis's cost follows the traffic. A stream written by a writer that does not announce is read
    /// only by the sweep of every live stream each <see cref="RedisAgentStreamingOptions.TailBlockTimeout"/>.
    /// </summary>
    Announced,

    /// <summary>
    /// One blocking <c>XREAD BLOCK</c> over every live stream of the process, on the tail's own connection. This is the
    /// only way to read live a stream written by a foreign writer that does not announce, such as the original Python
    /// sample's producer: such entries reach readers as Redis stores them, not at the next sweep. Redis's cost grows
    /// with the number of live streams, since every blocked command names them all.
    /// </summary>
    BlockingRead,
}

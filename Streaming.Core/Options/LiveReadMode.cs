namespace AgentStreaming.Streaming.Options;

/// <summary>How the shared tail of a process learns of new entries on a single Redis server.</summary>
public enum LiveReadMode
{
    /// <summary>
    /// Writers announce the streams each append call changed on <see cref="Streams.StreamKeys.Changes"/>; the tail
    /// reads only those (plus a sweep of every live stream each <see cref="RedisAgentStreamingOptions.TailBlockTimeout"/>).
    /// </summary>
    Announced,

    /// <summary>One blocking <c>XREAD</c> over every live stream: Redis's cost grows with the number of live streams.</summary>
    BlockingRead,
}

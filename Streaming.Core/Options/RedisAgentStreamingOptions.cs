namespace AgentStreaming.Streaming.Options;

/// <summary>Options of the Redis agent response streams.</summary>
/// <remarks>
/// Bound from the configuration section <c>AgentStreaming:Redis</c>; the connection string also comes from
/// <c>ConnectionStrings:redis</c> or <c>REDIS_CONNECTION_STRING</c> and the TTL from <c>REDIS_STREAM_TTL_MINUTES</c>.
/// Validated when the host starts (<c>ValidateOnStart</c>); a value outside the range documented on its property fails
/// the start with a message naming the setting.
/// </remarks>
public sealed class RedisAgentStreamingOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "AgentStreaming:Redis";

    /// <summary>
    /// The Redis connection string: StackExchange.Redis form (<c>localhost:6379,password=…</c>) or URL form
    /// (<c>redis://[:password@]host:port[/db]</c>, <c>rediss://</c> for TLS). Not needed when an
    /// <c>IConnectionMultiplexer</c> is registered or <see cref="Configuration"/> is set; otherwise required and must parse.
    /// No default.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>The key prefix of run streams: not empty, without <c>{</c> or <c>}</c>. Default <c>agent-stream:</c>.</summary>
    public string KeyPrefix { get; set; } = "agent-stream:";

    /// <summary>How long a run stream lives after its last write: at least 1 s. Default 10 minutes.</summary>
    public TimeSpan StreamTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a run's small metadata hash outlives its stream. Within this time a late attempt that writes after the
    /// stream expired is refused (<see cref="Streams.AgentStreamWriteFailure.Expired"/>) instead of restarting the
    /// sequence at 0, and readers are told the stream expired at once. Zero or positive. Default 1 hour.
    /// </summary>
    public TimeSpan ExpiredStreamMemory { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The caller's StackExchange.Redis configuration (TLS, certificates and their validation callbacks, user, password,
    /// …). The connections Streaming.Core opens itself — the shared tail's — are opened with a clone of it, and the
    /// multiplexer <c>AddRedisAgentStreaming</c> registers uses it when set. Not bound from configuration. When
    /// <see langword="null"/>, <see cref="ConnectionString"/> is parsed instead.
    /// </summary>
    public StackExchange.Redis.ConfigurationOptions? Configuration { get; set; }

    /// <summary>Most entries a writer sends in one batch (one <c>XADD</c> each, pipelined in one flush): 1 to 4096. Default 1024.</summary>
    public int MaxBatchSize { get; set; } = 1024;

    /// <summary>Entries a writer may hold unsent before <c>AppendAsync</c> waits for Redis: at least 1. Default 8192.</summary>
    public int MaxPendingEntries { get; set; } = 8192;

    /// <summary>Entries a reader fetches per catch-up command: 1 to 10000. Default 512.</summary>
    public int ReadBatchSize { get; set; } = 512;

    /// <summary>
    /// How long a reader waits for a stream that does not exist yet before it reports "not found or expired": zero
    /// (report at once) or positive. Default 30 s.
    /// </summary>
    public TimeSpan NotFoundTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long readers keep retrying while Redis is unreachable before they fail: zero (fail at once) or positive.
    /// Default 30 s. Writers: <see cref="WriteRetryTimeout"/>.
    /// </summary>
    public TimeSpan ReconnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a writer holds its entries and re-sends a batch that failed because Redis was unreachable, timed out
    /// or was busy/loading (a restart, a failover), counted from the first failure. An outage shorter than this is
    /// ridden out as the same attempt: readers see no <c>reset</c>, no gap and no duplicate (a re-sent batch that Redis
    /// had already stored is acknowledged, not written twice). A longer one faults the writer
    /// (<see cref="Streams.AgentStreamWriteFailure.Redis"/>) and the run goes on as a new attempt. Zero or positive.
    /// Default 10 s; <see cref="TimeSpan.Zero"/> faults on the first failure.
    /// </summary>
    public TimeSpan WriteRetryTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Replicas that must have a write before it counts as done (<c>WAIT</c>): 0 (the default) counts a write done when
    /// the primary has it, as Redis does; 1 or more makes the write pump, a writer's claim and the conversation history
    /// wait until that many replicas acknowledged them, so a primary killed (and replaced by its replica) loses nothing a
    /// writer or reader was told is stored. A write the replicas did not acknowledge in time is re-sent after a failover
    /// (entry ids make re-sends idempotent). For a Redis Cluster with replicas, or a primary with replicas under Sentinel.
    /// 0 to 16.
    /// </summary>
    public int ReplicaAcks { get; set; }

    /// <summary>
    /// How long a write waits for <see cref="ReplicaAcks"/> replicas before it counts as done anyway (counted in
    /// <c>agent_streaming.stream.write.unreplicated</c>); the writes to that primary then skip the wait for 10 s, so a
    /// replica that is down costs one such delay per 10 s. Positive. Default 500 ms.
    /// </summary>
    public TimeSpan ReplicaAckTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The longest a shared blocking read waits in Redis before it is re-issued (<see cref="LiveReadMode.BlockingRead"/>),
    /// and how often the announced tail reads every live stream as a sweep (<see cref="LiveReadMode.Announced"/>, and on
    /// Redis Cluster). Positive. Default 5 s.
    /// </summary>
    public TimeSpan TailBlockTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How a process's live readers learn of new entries on a single server. <see cref="LiveReadMode.Announced"/>
    /// (the default) reads only the streams the writers' append calls announce, so Redis's cost follows the traffic;
    /// <see cref="LiveReadMode.BlockingRead"/> keeps one blocking <c>XREAD</c> over every live stream, the only way to read
    /// live the streams of writers that do not announce (not this library's). Redis Cluster always uses its sharded
    /// announcements.
    /// </summary>
    public LiveReadMode LiveRead { get; set; } = LiveReadMode.Announced;

    /// <summary>How often a waiting reader checks that its stream still exists: positive. Default 5 s.</summary>
    public TimeSpan IdleCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Entries buffered for a live reader beyond which the shared tail stops fetching for it until it catches up: at
    /// least 1. Default 1024.
    /// </summary>
    public int ReaderBufferLimit { get; set; } = 1024;
}

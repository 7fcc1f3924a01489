using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Resilience;
using AgentStreaming.Streaming.Streams.Reading;
using AgentStreaming.Streaming.Streams.Tails;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams;

/// <summary>
/// The Redis Stream handler of agent responses: creates writers for run attempts and reads run streams live.
/// </summary>
/// <remarks>
/// Catch-up reads use <c>XRANGE key (cursor + COUNT n</c> on the shared multiplexer; live entries come from one shared
/// tail per process, on a connection this handler opens and owns: on a single server the writers' announcements
/// (<see cref="AnnouncedStreamTail"/>, or one blocking <c>XREAD</c>, <see cref="RedisStreamTail"/>, with
/// <see cref="LiveReadMode.BlockingRead"/>), on Redis Cluster sharded announcements (<see cref="ClusterStreamTail"/>).
/// Writers share one write pump per handler (<see cref="StreamAppender"/>); reads are done by
/// <see cref="RedisAgentStreamReader"/>. The multiplexer passed in is not disposed.
/// </remarks>
public sealed class RedisStreamResponseHandler : IAgentStreamReader, IAsyncDisposable
{
    private readonly IConnectionMultiplexer _multiplexer;
    private readonly RedisAgentStreamingOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly object _tailGate = new();
    private IStreamTail? _tail;
    private readonly string _origin = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
    private StreamAppender? _appender;
    private StreamAppender? _clusterAppender;
    private bool _disposed;
    private readonly RedisAgentStreamReader _reader;
    private int _topology;

    /// <summary>Creates the handler.</summary>
    /// <param name="multiplexer">The shared Redis connection (not disposed by the handler).</param>
    /// <param name="options">The options.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="timeProvider">The clock for deadlines; the system clock when <see langword="null"/>.</param>
    public RedisStreamResponseHandler(
        IConnectionMultiplexer multiplexer,
        IOptions<RedisAgentStreamingOptions> options,
        ILogger<RedisStreamResponseHandler>? logger = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        ArgumentNullException.ThrowIfNull(options);
        _multiplexer = multiplexer;
        _options = options.Value;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        Keys = new StreamKeys(_options.KeyPrefix);
        _reader = new RedisAgentStreamReader(_multiplexer, Keys, _options, () => Tail, _logger, _time);
        ReplicaAcks = new RedisReplicaAcks(_multiplexer, _options.ReplicaAcks, _options.ReplicaAckTimeout, _time);
    }

    /// <summary>How this handler's writes wait for replicas (<see cref="RedisAgentStreamingOptions.ReplicaAcks"/>); other writers of the same data use it too.</summary>
    public RedisReplicaAcks ReplicaAcks { get; }

    /// <summary>The key names this handler uses.</summary>
    internal StreamKeys Keys { get; }

    /// <summary>The options this handler runs with.</summary>
    internal RedisAgentStreamingOptions Options => _options;

    /// <summary>
    /// The shared tail, made on first use (the multiplexer has connected by then, so its topology is known): the
    /// writers' announcements on a single server (or one blocking <c>XREAD</c>), sharded announcements and <c>XRANGE</c>
    /// on Redis Cluster.
    /// </summary>
    internal IStreamTail Tail
    {
        get
        {
            lock (_tailGate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return _tail ??= IsCluster
                    ? new ClusterStreamTail(_multiplexer, TailConfiguration, static key => "{" + key + "}:notify", _origin, _options, _logger, _time)
                    : _options.LiveRead == LiveReadMode.BlockingRead
                        ? new RedisStreamTail(_multiplexer, TailConfiguration, _options, _logger, _time)
                        : new AnnouncedStreamTail(TailConfiguration, Keys.Changes, _origin, _options, _logger, _time);
            }
        }
    }

    /// <summary>Readers currently waiting for live entries (all share one Redis connection).</summary>
    public int LiveReaderCount => Volatile.Read(ref _tail)?.SubscriberCount ?? 0;

    /// <summary>Creates the writer of one attempt of a run.</summary>
    /// <param name="runId">The run id.</param>
    /// <param name="attempt">The 1-based attempt.</param>
    /// <param name="traceParent">W3C <c>traceparent</c> of the run, written on the attempt's first entry.</param>
    /// <returns>The writer.</returns>
    /// <exception cref="ArgumentException">The run id is malformed.</exception>
    public RedisAgentStreamWriter CreateWriter(string runId, int attempt = 1, string? traceParent = null)
    {
        RunIds.Validate(runId);
        var cluster = IsCluster;
        return new RedisAgentStreamWriter(
            Appender(cluster), _multiplexer.GetDatabase(), Keys, runId, attempt, traceParent, _options.StreamTtl, _options.ExpiredStreamMemory,
            cluster ? null : Keys.Changes, cluster ? Keys.Notify(runId) : null, _options.MaxBatchSize, _options.MaxPendingEntries, _options.WriteRetryTimeout, _time, _logger, ReplicaAcks);
    }

    /// <summary>Hands a flush of this process's write pump to its readers in memory (the announced tails).</summary>
    private void HandOver(List<AppendBatch> flush, long now) => (Volatile.Read(ref _tail) as IAnnouncedTail)?.HandOver(flush, now);

    /// <summary>
    /// The process-wide write pump of this handler (one per topology: combined calls announced on
    /// <see cref="StreamKeys.Changes"/> on a single server; a queue per node and an announcement per batch on Redis Cluster).
    /// </summary>
    private StreamAppender Appender(bool cluster)
    {
        var appender = cluster ? _clusterAppender : _appender;
        if (appender is not null)
        {
            return appender;
        }

        lock (_tailGate)
        {
            return cluster
                ? _clusterAppender ??= new StreamAppender(_multiplexer.GetDatabase(), changesChannel: null, _options.MaxBatchSize, _time, _origin, HandOver, ReplicaAcks, key => _multiplexer.GetServer(key, flags: CommandFlags.DemandMaster).EndPoint)
                : _appender ??= new StreamAppender(_multiplexer.GetDatabase(), Keys.Changes, _options.MaxBatchSize, _time, _origin, HandOver, ReplicaAcks);
        }
    }

    /// <summary>Whether the multiplexer talks to a Redis Cluster (known once it has connected).</summary>
    internal bool IsCluster
    {
        get
        {
            var known = Volatile.Read(ref _topology);
            if (known != 0)
            {
                return known == 2;
            }

            var servers = _multiplexer.GetServers();
            if (!servers.Any(s => s.IsConnected))
            {
                return false;
            }

            var cluster = servers.Any(s => s.ServerType == ServerType.Cluster);
            Volatile.Write(ref _topology, cluster ? 2 : 1);
            return cluster;
        }
    }

    /// <inheritdoc />
    public Task<AgentStreamState> GetStateAsync(string runId, CancellationToken cancellationToken = default)
        => _reader.GetStateAsync(runId, cancellationToken);

    /// <inheritdoc />
    public IAsyncEnumerable<StreamChunk> ReadStreamAsync(string runId, string? cursor = null, CancellationToken cancellationToken = default)
        => _reader.ReadStreamAsync(runId, cursor, cancellationToken);

    /// <summary>
    /// The configuration of the connection the shared tail opens: a clone of the caller's
    /// <see cref="RedisAgentStreamingOptions.Configuration"/> (TLS, certificate callbacks, user, password kept), else
    /// the parsed <see cref="RedisAgentStreamingOptions.ConnectionString"/>; only when neither is set, the multiplexer's
    /// configuration string, which cannot carry callbacks (logged as a warning).
    /// </summary>
    private ConfigurationOptions TailConfiguration()
    {
        if (_options.Configuration is { } configuration)
        {
            return configuration.Clone();
        }

        if (!string.IsNullOrWhiteSpace(_options.ConnectionString))
        {
            return RedisConnectionString.Parse(_options.ConnectionString);
        }

        StreamingLog.TailConfigurationFromString(_logger);
        return ConfigurationOptions.Parse(_multiplexer.Configuration);
    }

    /// <summary>Stops the shared tail and closes the connection it opened.</summary>
    /// <returns>A task that completes when stopped.</returns>
    public ValueTask DisposeAsync()
    {
        IStreamTail? tail;
        lock (_tailGate)
        {
            _disposed = true;
            tail = _tail;
        }

        return tail?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}

using System.Globalization;
using AgentStreaming.DurableAgents.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.Testing;

/// <summary>
/// Worker processes (the real executable) of one Orleans cluster of their own on a real redis-server (or a real Redis
/// Cluster), and an Orleans client in the test process to talk to them; disposing it stops the client and kills the
/// Workers.
/// </summary>
public sealed class WorkerCluster : IAsyncDisposable
{
    private readonly List<ServiceProcess> _workers = [];
    private readonly Dictionary<ServiceProcess, Uri> _urls = [];
    private IHost? _client;

    public WorkerCluster(RedisServer redis, double tokensPerSecond)
        : this(redis.ConnectionString, tokensPerSecond)
    {
    }

    public WorkerCluster(string redisConnectionString, double tokensPerSecond, string? redisCaCertificate = null)
    {
        RedisConnectionString = redisConnectionString;
        RedisCaCertificate = redisCaCertificate;
        TokensPerSecond = tokensPerSecond;
        ClusterId = "workers-" + Guid.NewGuid().ToString("N")[..12];
    }

    /// <summary>Starts <paramref name="workers"/> Worker processes and the test's Orleans client (everything is stopped if one fails).</summary>
    /// <param name="redis">The redis-server they share.</param>
    /// <param name="workers">How many Worker processes.</param>
    /// <param name="tokensPerSecond">The offline model's pace.</param>
    /// <returns>The started cluster.</returns>
    public static Task<WorkerCluster> StartAsync(RedisServer redis, int workers = 2, double tokensPerSecond = 40)
        => StartAsync(redis.ConnectionString, workers, tokensPerSecond);

    /// <summary>Starts <paramref name="workers"/> Worker processes and the test's Orleans client on any Redis (everything is stopped if one fails).</summary>
    /// <param name="redisConnectionString">The Redis they share (a server, or a Redis Cluster's nodes).</param>
    /// <param name="workers">How many Worker processes.</param>
    /// <param name="tokensPerSecond">The offline model's pace.</param>
    /// <returns>The started cluster.</returns>
    public static Task<WorkerCluster> StartAsync(string redisConnectionString, int workers = 2, double tokensPerSecond = 40)
        => StartAsync(new WorkerCluster(redisConnectionString, tokensPerSecond), workers);

    /// <summary>
    /// Starts <paramref name="workers"/> Worker processes and the test's Orleans client on a Redis Cluster; on a TLS
    /// cluster they are configured as a deployment would be: its connection string (<c>ssl=true,sslHost=…</c>) and the
    /// CA to trust as <c>Redis:CaCertificate</c>. On a cluster with replicas their writes wait for a replica
    /// (<c>AgentStreaming:Redis:ReplicaAcks</c> = 1), as the AppHost's cluster mode sets it.
    /// </summary>
    /// <param name="redis">The cluster.</param>
    /// <param name="workers">How many Worker processes.</param>
    /// <param name="tokensPerSecond">The offline model's pace.</param>
    /// <returns>The started cluster.</returns>
    public static Task<WorkerCluster> StartAsync(RedisCluster redis, int workers = 2, double tokensPerSecond = 40)
        => StartAsync(new WorkerCluster(redis.ConnectionString, tokensPerSecond, redis.TlsCaCertificateFile) { ReplicaAcks = redis.Nodes.Count > redis.Ports.Count ? 1 : 0 }, workers);

    private static async Task<WorkerCluster> StartAsync(WorkerCluster cluster, int workers)
    {
        try
        {
            for (var i = 0; i < workers; i++)
            {
                await cluster.StartWorkerAsync();
            }

            await cluster.StartClientAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The Redis connection string the Workers and the client share.</summary>
    public string RedisConnectionString { get; }

    /// <summary>The PEM file of the CA the Workers and the client trust for Redis over TLS (<c>Redis:CaCertificate</c>), if any.</summary>
    public string? RedisCaCertificate { get; }

    /// <summary>Replicas a Worker's writes wait for (<c>AgentStreaming:Redis:ReplicaAcks</c>); 0 leaves it unset.</summary>
    public int ReplicaAcks { get; init; }

    /// <summary>The offline model's pace in every Worker.</summary>
    public double TokensPerSecond { get; }

    /// <summary>The Orleans cluster id, new for every instance, so clusters on one redis-server never mix.</summary>
    public string ClusterId { get; }

    /// <summary>The Worker processes started so far.</summary>
    public IReadOnlyList<ServiceProcess> Workers => _workers;

    /// <summary>The HTTP base address of a Worker this cluster started.</summary>
    /// <param name="worker">The Worker.</param>
    /// <returns>Its address.</returns>
    public Uri UrlOf(ServiceProcess worker) => _urls[worker];

    /// <summary>The test's Orleans client of the cluster.</summary>
    public DurableAgentClient Client => _client!.Services.GetRequiredService<DurableAgentClient>();

    /// <summary>Starts one more Worker process of the cluster and waits until it is ready.</summary>
    /// <param name="settings">More environment variables for it.</param>
    /// <returns>The ready Worker.</returns>
    public async Task<ServiceProcess> StartWorkerAsync(IReadOnlyDictionary<string, string?>? settings = null)
    {
        var environment = new Dictionary<string, string?>();
        if (RedisCaCertificate is not null)
        {
            environment[AgentStreaming.Streaming.Options.RedisConnectionString.CaCertificateKey.Replace(":", "__", StringComparison.Ordinal)] = RedisCaCertificate;
        }

        if (ReplicaAcks > 0)
        {
            environment["AgentStreaming__Redis__ReplicaAcks"] = ReplicaAcks.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            environment[key] = value;
        }

        var worker = await WorkerProcess.StartAsync(RedisConnectionString, ClusterId, $"worker-{_workers.Count + 1}", TokensPerSecond, environment);
        _workers.Add(worker.Process);
        _urls[worker.Process] = worker.Url;
        return worker.Process;
    }

    /// <summary>Starts the test's Orleans client of the cluster.</summary>
    /// <returns>A task that completes when the client is connected.</returns>
    public async Task StartClientAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration["ConnectionStrings:redis"] = RedisConnectionString;
        builder.Configuration[AgentStreaming.Streaming.Options.RedisConnectionString.CaCertificateKey] = RedisCaCertificate;
        builder.UseOrleansClient(client => client.UseDurableAgentsRedis(RedisConnectionString, ClusterId));
        builder.Services.AddDurableAgentsClient();
        _client = builder.Build();
        await _client.StartWithinAsync($"The test's Orleans client of cluster {ClusterId}");
    }

    /// <summary>The Worker a grain's <c>HostedBy</c> (<c>host/pid</c>) names.</summary>
    /// <param name="hostedBy">The <c>HostedBy</c> value.</param>
    /// <returns>The Worker process.</returns>
    public ServiceProcess WorkerHosting(string hostedBy)
    {
        var pid = int.Parse(hostedBy[(hostedBy.LastIndexOf('/') + 1)..], CultureInfo.InvariantCulture);
        return _workers.Single(w => w.Id == pid);
    }

    /// <summary>Stops the client (5 s at most) and kills every Worker.</summary>
    /// <returns>A task that completes when they are gone.</returns>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_client is not null)
            {
                await _client.StopWithinAsync($"The test's Orleans client of cluster {ClusterId}", TimeSpan.FromSeconds(5));
                _client.Dispose();
            }
        }
        finally
        {
            foreach (var worker in _workers)
            {
                await worker.DisposeAsync();
            }
        }
    }
}

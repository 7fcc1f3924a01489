using System.Globalization;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.SystemTests;

/// <summary>Worker processes (the real executable) on a real redis-server, and an Orleans client in the test.</summary>
internal sealed class WorkerCluster : IAsyncDisposable
{
    private readonly List<ServiceProcess> _workers = [];
    private IHost? _client;

    public WorkerCluster(RedisServer redis, double tokensPerSecond)
    {
        Redis = redis;
        TokensPerSecond = tokensPerSecond;
        ClusterId = "sys-" + Guid.NewGuid().ToString("N")[..12];
    }

    /// <summary>Starts <paramref name="workers"/> Worker processes and the test's Orleans client (everything is stopped if one fails).</summary>
    /// <param name="redis">The redis-server they share.</param>
    /// <param name="workers">How many Worker processes.</param>
    /// <param name="tokensPerSecond">The offline model's pace.</param>
    /// <returns>The started cluster.</returns>
    public static async Task<WorkerCluster> StartAsync(RedisServer redis, int workers = 2, double tokensPerSecond = 40)
    {
        var cluster = new WorkerCluster(redis, tokensPerSecond);
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

    public RedisServer Redis { get; }

    public double TokensPerSecond { get; }

    public string ClusterId { get; }

    public IReadOnlyList<ServiceProcess> Workers => _workers;

    public DurableAgentClient Client => _client!.Services.GetRequiredService<DurableAgentClient>();

    public async Task<ServiceProcess> StartWorkerAsync(IReadOnlyDictionary<string, string?>? settings = null)
    {
        var worker = await WorkerProcess.StartAsync(Redis, ClusterId, $"worker-{_workers.Count + 1}", TokensPerSecond, settings);
        _workers.Add(worker.Process);
        return worker.Process;
    }

    public async Task StartClientAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration["ConnectionStrings:redis"] = Redis.ConnectionString;
        builder.UseOrleansClient(client => client.UseDurableAgentsRedis(Redis.ConnectionString, ClusterId));
        builder.Services.AddDurableAgentsClient();
        _client = builder.Build();
        await _client.StartAsync();
    }

    public ServiceProcess WorkerHosting(string hostedBy)
    {
        var pid = int.Parse(hostedBy[(hostedBy.LastIndexOf('/') + 1)..], CultureInfo.InvariantCulture);
        return _workers.Single(w => w.Id == pid);
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            try
            {
                await _client.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
            }
            catch (OperationCanceledException)
            {
            }

            _client.Dispose();
        }

        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }
    }
}

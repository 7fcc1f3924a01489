using System.Net;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Testing;
using Microsoft.Agents.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>Real Orleans silos (in this process, on free loopback ports) and a real client, on a real redis-server.</summary>
internal sealed class OrleansCluster : IAsyncDisposable
{
    private readonly List<IHost> _silos = [];
    private IHost? _client;

    public OrleansCluster(RedisServer redis, ScriptedChatClient model, Action<IServiceCollection>? configureServices = null, Action<HostApplicationBuilder>? configureSiloHost = null)
    {
        Redis = redis;
        Model = model;
        ConfigureServices = configureServices;
        ConfigureSiloHost = configureSiloHost;
        ClusterId = "test-" + Guid.NewGuid().ToString("N")[..12];
    }

    public RedisServer Redis { get; }

    public ScriptedChatClient Model { get; }

    public Action<IServiceCollection>? ConfigureServices { get; }

    /// <summary>Runs first on each silo's host builder (before Orleans and the durable agents are added), as a Worker's Program.cs does.</summary>
    public Action<HostApplicationBuilder>? ConfigureSiloHost { get; }

    public string ClusterId { get; }

    public IReadOnlyList<IHost> Silos => _silos;

    public DurableAgentClient Client => (_client ?? throw new InvalidOperationException("No client.")).Services.GetRequiredService<DurableAgentClient>();

    public static async Task<OrleansCluster> StartAsync(RedisServer redis, ScriptedChatClient model, Action<IServiceCollection>? configureServices = null, Action<HostApplicationBuilder>? configureSiloHost = null)
    {
        var cluster = new OrleansCluster(redis, model, configureServices, configureSiloHost);
        await cluster.StartSiloAsync();
        await cluster.StartClientAsync();
        return cluster;
    }

    public async Task<IHost> StartSiloAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration["ConnectionStrings:redis"] = Redis.ConnectionString;
        ConfigureSiloHost?.Invoke(builder);
        builder.UseOrleans(silo =>
        {
            silo.UseDurableAgentsRedis(Redis.ConnectionString, clusterId: ClusterId);
            silo.ConfigureEndpoints(IPAddress.Loopback, FreePort.Next(), FreePort.Next());
        });
        builder.Services.AddDurableAgents(o =>
        {
            o.RunLeaseDuration = TimeSpan.FromSeconds(3);
            o.RunLeaseRenewInterval = TimeSpan.FromSeconds(1);
        }).AddAgent("TestAgent", _ => new ChatClientAgent(Model, "You answer.", "TestAgent"));
        ConfigureServices?.Invoke(builder.Services);
        var host = builder.Build();
        await host.StartWithinAsync("A silo of the test's Orleans cluster");
        _silos.Add(host);
        return host;
    }

    public async Task StartClientAsync() => _client = await StartClientHostAsync();

    /// <summary>Another Orleans client of the cluster, with its own Redis connections and stream reader (as another process has).</summary>
    public async Task<OtherClient> ConnectOtherClientAsync() => new(await StartClientHostAsync());

    private async Task<IHost> StartClientHostAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration["ConnectionStrings:redis"] = Redis.ConnectionString;
        builder.Configuration["DurableAgents:Client:ConnectTimeout"] = "00:00:20";
        builder.UseOrleansClient(client => client.UseDurableAgentsRedis(Redis.ConnectionString, ClusterId));
        builder.Services.AddDurableAgentsClient();
        var host = builder.Build();
        await host.StartWithinAsync("An Orleans client of the test's cluster");
        return host;
    }

    public async Task StopSiloAsync(IHost silo)
    {
        await silo.StopWithinAsync("A silo of the test's Orleans cluster");
        silo.Dispose();
        _silos.Remove(silo);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_client is not null)
            {
                await _client.StopWithinAsync("The test's Orleans client");
                _client.Dispose();
            }
        }
        finally
        {
            foreach (var silo in _silos.ToArray())
            {
                await StopSiloAsync(silo);
            }
        }
    }
}

/// <summary>A second client of an <see cref="OrleansCluster"/>.</summary>
internal sealed class OtherClient(IHost host) : IAsyncDisposable
{
    public DurableAgentClient Client => host.Services.GetRequiredService<DurableAgentClient>();

    public async ValueTask DisposeAsync()
    {
        await host.StopWithinAsync("A second Orleans client");
        host.Dispose();
    }
}

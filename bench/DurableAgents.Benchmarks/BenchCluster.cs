using System.Net;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Testing;
using AgentStreaming.Worker.Agents;
using AgentStreaming.Worker.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.DurableAgents.Benchmarks;

/// <summary>
/// A real Orleans silo hosting the TravelPlanner over the offline demo model at zero pacing, and a real Orleans
/// client, in this process on loopback ports, on a real redis-server. Durable-agent settings are the defaults.
/// </summary>
internal sealed class BenchCluster : IAsyncDisposable
{
    private readonly IHost _silo;
    private readonly IHost _client;

    private BenchCluster(IHost silo, IHost client)
    {
        _silo = silo;
        _client = client;
    }

    public DurableAgentClient Client => _client.Services.GetRequiredService<DurableAgentClient>();

    public static async Task<BenchCluster> StartAsync(RedisServer redis)
    {
        var clusterId = "bench-" + Guid.NewGuid().ToString("N")[..12];

        var siloBuilder = Host.CreateApplicationBuilder();
        siloBuilder.Logging.SetMinimumLevel(LogLevel.Warning);
        siloBuilder.Configuration["ConnectionStrings:redis"] = redis.ConnectionString;
        siloBuilder.UseOrleans(silo =>
        {
            silo.UseDurableAgentsRedis(redis.ConnectionString, clusterId: clusterId);
            silo.ConfigureEndpoints(IPAddress.Loopback, FreePort.Next(), FreePort.Next());
        });
        siloBuilder.Services.AddDurableAgents().AddAgent(TravelPlannerAgent.Name, _ =>
            TravelPlannerAgent.Create(new OfflineDemoChatClient(new OfflineDemoModelOptions { TokensPerSecond = 0 })));
        var silo = siloBuilder.Build();
        await silo.StartAsync();

        var clientBuilder = Host.CreateApplicationBuilder();
        clientBuilder.Logging.SetMinimumLevel(LogLevel.Warning);
        clientBuilder.Configuration["ConnectionStrings:redis"] = redis.ConnectionString;
        clientBuilder.UseOrleansClient(client => client.UseDurableAgentsRedis(redis.ConnectionString, clusterId));
        clientBuilder.Services.AddDurableAgentsClient();
        var client = clientBuilder.Build();
        await client.StartAsync();
        return new BenchCluster(silo, client);
    }

    public async ValueTask DisposeAsync()
    {
        await _client.StopAsync();
        _client.Dispose();
        await _silo.StopAsync();
        _silo.Dispose();
    }
}

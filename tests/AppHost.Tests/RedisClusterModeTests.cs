using System.Net;
using StackExchange.Redis;

namespace AgentStreaming.AppHost.Tests;

/// <summary>The AppHost's cluster mode (<c>--Redis:Cluster=3</c>): the scale-out path with the same one command.</summary>
public sealed class RedisClusterModeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ClusterMode_StartsThreePrimariesAndThreeReplicas_TheWorkerIsHealthy_AndTheDemoClientStreamsItsRun()
    {
        await using var system = await AspireSystem.StartAsync(demoClient: true, moreArgs: ["--Redis:Cluster=3"]);

        var redis = await system.RedisAsync();
        Assert.Equal(6, redis.Split(',').Length);
        Assert.Equal(0, await system.WaitForExitAsync("client", TimeSpan.FromSeconds(120)));
        var console = await system.ConsoleAsync("client");
        Assert.Contains("Tokyo", console, StringComparison.Ordinal);

        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
        var servers = connection.GetServers();
        output.WriteLine(string.Join('\n', servers.Select(s => $"{s.EndPoint} {(s.IsReplica ? "replica" : "primary")} {s.ServerType}")));
        Assert.All(servers, s => Assert.Equal(ServerType.Cluster, s.ServerType));
        Assert.Equal(3, servers.Count(s => s.IsConnected && !s.IsReplica));
        Assert.Equal(3, servers.Count(s => s.IsConnected && s.IsReplica));
        using var health = await system.Worker().GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task ClusterModeWithTwoPrimaries_DoesNotStart_AndSaysWhy()
    {
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => AspireSystem.StartAsync(moreArgs: ["--Redis:Cluster=2"]));

        Assert.Contains("Redis:Cluster must be at least 3", ex.ToString(), StringComparison.Ordinal);
    }
}

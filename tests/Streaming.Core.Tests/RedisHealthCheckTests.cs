using System.Diagnostics;
using AgentStreaming.Streaming.Hosting;
using AgentStreaming.Testing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

/// <summary>The Redis readiness check (the Worker's /health) on each topology, with an ordinary (non-admin) connection as the Worker has.</summary>
public sealed class RedisHealthCheckTests(ITestOutputHelper output)
{
    private static Task<HealthCheckResult> CheckAsync(RedisHealthCheck check)
        => check.CheckHealthAsync(new HealthCheckContext { Registration = new HealthCheckRegistration("redis", check, HealthStatus.Unhealthy, null) });

    [Fact]
    public async Task SingleServer_HealthyWhileItAnswers_UnhealthyOnceKilled()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var check = new RedisHealthCheck(connection);

        var healthy = await CheckAsync(check);
        Assert.Equal(HealthStatus.Healthy, healthy.Status);
        Assert.Contains("PING", healthy.Description, StringComparison.Ordinal);

        await redis.KillAsync();
        var down = await WaitForAsync(check, HealthStatus.Unhealthy);
        Assert.Contains("Redis did not answer", down.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SingleServerOverTls_Healthy()
    {
        await using var redis = await RedisServer.StartTlsAsync();
        var options = ConfigurationOptions.Parse($"127.0.0.1:{redis.TlsPort},ssl=true,sslHost=localhost,abortConnect=false");
        options.TrustIssuer(redis.TlsCaCertificateFile!);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
        Assert.True(connection.IsConnected, connection.GetStatus());

        var result = await CheckAsync(new RedisHealthCheck(connection));

        Assert.Equal(HealthStatus.Healthy, result.Status);
    }

    [Theory]
    [InlineData("cluster")]
    [InlineData("cluster over TLS")]
    public async Task ClusterWithReplicas_Healthy_ThenUnhealthyWhileAPrimaryIsDown_ThenHealthyOnceItsReplicaTookOver(string topology)
    {
        // Over TLS the nodes speak nothing else (clients, cluster bus, replication): the connection follows the slot map
        // and the failover to the TLS ports the nodes announce.
        await using var cluster = await RedisCluster.StartAsync(primaries: 3, replicasPerPrimary: 1, tls: topology.EndsWith("TLS", StringComparison.Ordinal));
        await using var connection = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration());
        var check = new RedisHealthCheck(connection);

        var healthy = await CheckAsync(check);
        Assert.Equal(HealthStatus.Healthy, healthy.Status);
        Assert.Contains("3 Redis Cluster primaries serve all 16384 hash slots", healthy.Description, StringComparison.Ordinal);

        RedisKey key = "health-check-probe";
        await connection.GetDatabase().StringSetAsync(key, "before");
        var owner = connection.GetServer(key, flags: CommandFlags.DemandMaster);
        // Replication is asynchronous: without this the kill below can come before the replica has the key.
        Assert.Equal(1L, (long)await owner.ExecuteAsync("WAIT", 1, 10_000));
        var primary = cluster.Node(((System.Net.IPEndPoint)owner.EndPoint).Port);
        var killedAt = Stopwatch.GetTimestamp();
        await primary.KillAsync();

        var down = await WaitForAsync(check, HealthStatus.Unhealthy);
        // Named either as down (the connection already saw it go) or as not answering PING (the check's own probe), by timing.
        Assert.Matches($"primaries (are down|did not answer PING): .*127\\.0\\.0\\.1:{primary.Port}", down.Description);
        var up = await WaitForAsync(check, HealthStatus.Healthy);
        var failover = Stopwatch.GetElapsedTime(killedAt);
        output.WriteLine($"{topology}: kill -9 of a primary → healthy again: {failover.TotalSeconds:0.0} s ({up.Description})");

        // The replica serves the key now (written before the kill, and acknowledged by the replica).
        Assert.Equal("before", await connection.GetDatabase().StringGetAsync(key));
        Assert.NotEqual(primary.Port, ((System.Net.IPEndPoint)connection.GetServer(key, flags: CommandFlags.DemandMaster).EndPoint).Port);
    }

    private static async Task<HealthCheckResult> WaitForAsync(RedisHealthCheck check, HealthStatus status)
    {
        var waited = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(30);
        while (true)
        {
            var result = await CheckAsync(check);
            if (result.Status == status)
            {
                return result;
            }

            Assert.True(waited.Elapsed < deadline, $"The check did not become {status} within {deadline}: {result.Description}");
            await Task.Delay(100);
        }
    }
}

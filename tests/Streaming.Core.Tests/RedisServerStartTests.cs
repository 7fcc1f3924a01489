using System.Net;
using System.Net.Sockets;
using AgentStreaming.Testing;

namespace AgentStreaming.Streaming.Tests;

/// <summary>
/// The shared fixture's redis-server start: a free port can be taken by another socket between its pick and
/// redis-server's bind, and the start then picks again instead of failing the test that needed the server.
/// </summary>
public sealed class RedisServerStartTests
{
    [Fact]
    public async Task APortTakenBeforeRedisBindsIt_IsPickedAgain_AndTheServerStarts()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((IPEndPoint)holder.LocalEndpoint).Port;
        var picked = new List<int>();

        await using var server = await RedisServer.StartOnFreePortsAsync(() =>
        {
            var port = picked.Count == 0 ? taken : FreePort.Next();
            picked.Add(port);
            return RedisServer.StartAsync(port: port);
        });

        Assert.Equal(2, picked.Count);
        Assert.Equal(picked[1], server.Port);
        Assert.True(server.IsRunning);
    }

    [Fact]
    public async Task AStartThatFailsForAnotherReason_FailsAtOnce()
    {
        var attempts = 0;
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => RedisServer.StartOnFreePortsAsync(() =>
        {
            attempts++;
            throw new InvalidOperationException("redis-server exited with code 1: bad configuration");
        }));

        Assert.Equal(1, attempts);
        Assert.Contains("bad configuration", failure.Message, StringComparison.Ordinal);
    }
}

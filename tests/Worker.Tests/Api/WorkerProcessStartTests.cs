using System.Net;
using System.Net.Sockets;
using AgentStreaming.Testing;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>The test fixture that starts real Worker processes, where a port it picked is taken before the Worker binds it.</summary>
public sealed class WorkerProcessStartTests
{
    [Fact]
    public async Task Worker_WhoseHttpPortWasTaken_IsStartedAgainOnANewPort()
    {
        await using var redis = await RedisServer.StartAsync();
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((IPEndPoint)holder.LocalEndpoint).Port;
        var picked = new List<int>();

        await using var worker = await WorkerProcess.StartAsync(redis.ConnectionString, "ports-" + Guid.NewGuid().ToString("N")[..8], "ports-worker", tokensPerSecond: 0, httpPort: () =>
        {
            var port = picked.Count == 0 ? taken : FreePort.Next();
            picked.Add(port);
            return port;
        });

        Assert.Equal(2, picked.Count);
        Assert.Equal(picked[1], worker.Url.Port);
        using var http = new HttpClient { BaseAddress = worker.Url };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/health", UriKind.Relative))).StatusCode);
    }
}

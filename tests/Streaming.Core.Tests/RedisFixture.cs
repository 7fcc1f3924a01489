using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using StackExchange.Redis;

[assembly: AssemblyFixture(typeof(AgentStreaming.Streaming.Tests.RedisFixture))]

namespace AgentStreaming.Streaming.Tests;

/// <summary>One real redis-server for the whole assembly; every test uses its own run ids (and so its own keys).</summary>
public sealed class RedisFixture : IAsyncLifetime, IRedisBackend
{
    private RedisServer? _server;
    private ConnectionMultiplexer? _multiplexer;
    private ConnectionMultiplexer? _admin;

    public string Name => "single server";

    public RedisServer Server => _server ?? throw new InvalidOperationException("Not started.");

    public IConnectionMultiplexer Multiplexer => _multiplexer ?? throw new InvalidOperationException("Not started.");

    public IDatabase Database => Multiplexer.GetDatabase();

    public string ConnectionString => Server.ConnectionString;

    public async ValueTask InitializeAsync()
    {
        _server = await RedisServer.StartAsync();
        _multiplexer = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        _admin = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString + ",allowAdmin=true");
    }

    public async Task<ConnectionMultiplexer> ConnectAsync() => await ConnectionMultiplexer.ConnectAsync(ConnectionString);

    public RedisStreamResponseHandler CreateHandler(Action<RedisAgentStreamingOptions>? configure = null, IConnectionMultiplexer? multiplexer = null)
    {
        var options = new RedisAgentStreamingOptions { ConnectionString = multiplexer is null ? ConnectionString : null };
        configure?.Invoke(options);
        return new RedisStreamResponseHandler(multiplexer ?? Multiplexer, Microsoft.Extensions.Options.Options.Create(options));
    }

    public Task<int> KillTailConnectionsAsync() => RedisNodes.KillTailConnectionsAsync(_admin ?? throw new InvalidOperationException("Not started."));

    public async ValueTask DisposeAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }

        if (_multiplexer is not null)
        {
            await _multiplexer.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>Commands sent to every node of a connection.</summary>
internal static class RedisNodes
{
    /// <summary>Kills the clients named <c>agent-stream-tail</c> on every primary (<c>CLIENT LIST</c>, <c>CLIENT KILL ID</c>).</summary>
    public static async Task<int> KillTailConnectionsAsync(IConnectionMultiplexer admin)
    {
        var killed = 0;
        foreach (var server in admin.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            foreach (var client in await server.ClientListAsync())
            {
                if (client.Name == "agent-stream-tail")
                {
                    await server.ClientKillAsync(client.Id);
                    killed++;
                }
            }
        }

        return killed;
    }
}

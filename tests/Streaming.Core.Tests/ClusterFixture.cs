using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using StackExchange.Redis;

[assembly: AssemblyFixture(typeof(AgentStreaming.Streaming.Tests.ClusterFixture))]

namespace AgentStreaming.Streaming.Tests;

/// <summary>One real 3-primary Redis Cluster for the whole assembly; every test uses its own run ids.</summary>
public sealed class ClusterFixture : IAsyncLifetime, IRedisBackend
{
    private RedisCluster? _cluster;
    private ConnectionMultiplexer? _multiplexer;
    private ConnectionMultiplexer? _admin;

    public string Name => "3-primary cluster";

    public RedisCluster Cluster => _cluster ?? throw new InvalidOperationException("Not started.");

    public IConnectionMultiplexer Multiplexer => _multiplexer ?? throw new InvalidOperationException("Not started.");

    public IDatabase Database => Multiplexer.GetDatabase();

    public string ConnectionString => Cluster.ConnectionString;

    public async ValueTask InitializeAsync()
    {
        _cluster = await RedisCluster.StartAsync();
        _multiplexer = await ConnectionMultiplexer.ConnectAsync(_cluster.ConnectionString);
        _admin = await ConnectionMultiplexer.ConnectAsync(_cluster.ConnectionString + ",allowAdmin=true");
        if (_multiplexer.GetServers().Count(s => s.IsConnected && s.ServerType == ServerType.Cluster) != 3)
        {
            throw new InvalidOperationException("The test connection does not see three cluster primaries.");
        }
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

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

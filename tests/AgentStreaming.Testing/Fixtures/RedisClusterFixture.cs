using StackExchange.Redis;

namespace AgentStreaming.Testing;

/// <summary>One real 3-primary Redis Cluster for the test assembly (see <see cref="RedisCluster"/>).</summary>
public class RedisClusterFixture : RedisFixtureBase
{
    private const int Primaries = 3;
    private RedisCluster? _cluster;

    /// <summary>The cluster.</summary>
    public RedisCluster Cluster => _cluster ?? throw new InvalidOperationException("Not started.");

    /// <inheritdoc/>
    public override string ConnectionString => Cluster.ConnectionString;

    /// <inheritdoc/>
    protected override async Task StartRedisAsync() => _cluster = await RedisCluster.StartAsync(Primaries).ConfigureAwait(false);

    /// <summary>Fails unless the shared connection sees every primary.</summary>
    /// <returns>A completed task.</returns>
    protected override Task OnStartedAsync()
    {
        if (Multiplexer.GetServers().Count(s => s.IsConnected && s.ServerType == ServerType.Cluster) != Primaries)
        {
            throw new InvalidOperationException($"The test connection does not see {Primaries} cluster primaries.");
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    protected override async ValueTask StopRedisAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync().ConfigureAwait(false);
            _cluster = null;
        }
    }
}

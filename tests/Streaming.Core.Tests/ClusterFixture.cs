using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using StackExchange.Redis;

[assembly: AssemblyFixture(typeof(AgentStreaming.Streaming.Tests.ClusterFixture))]

namespace AgentStreaming.Streaming.Tests;

/// <summary>The assembly's 3-primary Redis Cluster as a backend of the suites; every test uses its own run ids.</summary>
public sealed class ClusterFixture : RedisClusterFixture, IRedisBackend
{
    public string Name => "3-primary cluster";

    public RedisStreamResponseHandler CreateHandler(Action<RedisAgentStreamingOptions>? configure = null, IConnectionMultiplexer? multiplexer = null)
        => RedisBackends.CreateHandler(this, configure, multiplexer);

    public Task<int> KillTailConnectionsAsync() => RedisBackends.KillTailConnectionsAsync(Admin);
}

using AgentStreaming.Testing;

[assembly: AssemblyFixture(typeof(AgentStreaming.Streaming.Tests.ClusterFixture))]

namespace AgentStreaming.Streaming.Tests;

/// <summary>The assembly's 3-primary Redis Cluster as a backend of the suites; every test uses its own run ids.</summary>
public sealed class ClusterFixture : RedisClusterFixture, IRedisBackend
{
    public string Name => "3-primary cluster";
}

using AgentStreaming.Testing;

[assembly: AssemblyFixture(typeof(AgentStreaming.Streaming.Tests.RedisFixture))]

namespace AgentStreaming.Streaming.Tests;

/// <summary>The assembly's redis-server as a backend of the suites; every test uses its own run ids (and so its own keys).</summary>
public sealed class RedisFixture : RedisServerFixture, IRedisBackend
{
    public string Name => "single server";
}

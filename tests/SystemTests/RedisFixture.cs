using AgentStreaming.Testing;

[assembly: AssemblyFixture(typeof(AgentStreaming.SystemTests.RedisFixture))]

namespace AgentStreaming.SystemTests;

/// <summary>One real redis-server (AOF on) for the assembly; each test uses its own Orleans cluster id and run ids.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    private RedisServer? _server;

    public RedisServer Server => _server ?? throw new InvalidOperationException("Not started.");

    public async ValueTask InitializeAsync() => _server = await RedisServer.StartAsync(appendOnly: true);

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

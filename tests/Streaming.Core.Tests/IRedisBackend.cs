using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

/// <summary>A real Redis the Streaming.Core suites run against: a single server or a cluster.</summary>
public interface IRedisBackend
{
    /// <summary>What the backend is, for test output.</summary>
    string Name { get; }

    /// <summary>The shared connection of the test process.</summary>
    IConnectionMultiplexer Multiplexer { get; }

    /// <summary>A database on <see cref="Multiplexer"/>.</summary>
    IDatabase Database { get; }

    /// <summary>A connection string that reaches the backend.</summary>
    string ConnectionString { get; }

    /// <summary>Opens a connection of its own, as another process would.</summary>
    /// <returns>The new connection (the caller disposes it).</returns>
    Task<ConnectionMultiplexer> ConnectAsync();

    /// <summary>A connection with <c>allowAdmin=true</c>, for <c>CLIENT KILL</c>.</summary>
    IConnectionMultiplexer Admin { get; }

    /// <summary>How the handlers this backend makes read live streams.</summary>
    LiveReadMode LiveRead => LiveReadMode.Announced;
}

/// <summary>
/// The single server, read by the blocking tail (<see cref="LiveReadMode.BlockingRead"/>: one <c>XREAD BLOCK</c> over
/// every live stream) instead of the default announced one.
/// </summary>
/// <param name="server">The assembly's redis-server.</param>
public sealed class BlockingReadBackend(RedisFixture server) : IRedisBackend
{
    public string Name => "single server, blocking read";

    public IConnectionMultiplexer Multiplexer => server.Multiplexer;

    public IDatabase Database => server.Database;

    public string ConnectionString => server.ConnectionString;

    public IConnectionMultiplexer Admin => server.Admin;

    public LiveReadMode LiveRead => LiveReadMode.BlockingRead;

    public Task<ConnectionMultiplexer> ConnectAsync() => server.ConnectAsync();
}

/// <summary>What the single-server and the cluster backend do alike.</summary>
public static class RedisBackends
{
    /// <summary>A handler on <paramref name="multiplexer"/> (or the backend's shared connection) with the given options.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="configure">Changes to the default options.</param>
    /// <param name="multiplexer">Another connection, or <see langword="null"/> for the shared one.</param>
    /// <returns>The handler (the caller disposes it).</returns>
    public static RedisStreamResponseHandler CreateHandler(this IRedisBackend backend, Action<RedisAgentStreamingOptions>? configure = null, IConnectionMultiplexer? multiplexer = null)
    {
        var options = new RedisAgentStreamingOptions { ConnectionString = multiplexer is null ? backend.ConnectionString : null, LiveRead = backend.LiveRead };
        configure?.Invoke(options);
        return new RedisStreamResponseHandler(multiplexer ?? backend.Multiplexer, Microsoft.Extensions.Options.Options.Create(options));
    }

    /// <summary>
    /// Kills, on every primary, the connections the shared tails wait on (clients named <c>agent-stream-tail</c>:
    /// <c>CLIENT LIST</c>, <c>CLIENT KILL ID</c>), forcing them to reconnect.
    /// </summary>
    /// <param name="backend">The backend.</param>
    /// <returns>How many connections were killed.</returns>
    public static async Task<int> KillTailConnectionsAsync(this IRedisBackend backend)
    {
        var admin = backend.Admin;
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

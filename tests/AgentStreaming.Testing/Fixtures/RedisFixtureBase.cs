using StackExchange.Redis;
using Xunit;

namespace AgentStreaming.Testing;

/// <summary>
/// A real Redis for a whole test assembly (register a concrete subclass with <c>[assembly: AssemblyFixture(...)]</c>):
/// started once before the first test, with a shared connection and an admin connection, and stopped after the last
/// test whether the tests passed or failed. Tests keep apart by using keys of their own (run ids, cluster ids).
/// </summary>
public abstract class RedisFixtureBase : IAsyncLifetime
{
    private ConnectionMultiplexer? _multiplexer;
    private ConnectionMultiplexer? _admin;

    /// <summary>A StackExchange.Redis connection string that reaches the Redis.</summary>
    public abstract string ConnectionString { get; }

    /// <summary>The connection the tests share.</summary>
    public IConnectionMultiplexer Multiplexer => _multiplexer ?? throw new InvalidOperationException("Not started.");

    /// <summary>A database on <see cref="Multiplexer"/>.</summary>
    public IDatabase Database => Multiplexer.GetDatabase();

    /// <summary>A shared connection with <c>allowAdmin=true</c> (for <c>CLIENT KILL</c>, <c>CLIENT PAUSE</c>, …).</summary>
    public IConnectionMultiplexer Admin => _admin ?? throw new InvalidOperationException("Not started.");

    /// <summary>Opens a connection of its own, as another process would.</summary>
    /// <returns>The new connection (the caller disposes it).</returns>
    public async Task<ConnectionMultiplexer> ConnectAsync() => await ConnectionMultiplexer.ConnectAsync(ConnectionString).ConfigureAwait(false);

    /// <summary>Starts the Redis, connects, then runs <see cref="OnStartedAsync"/>; if any of it fails, stops what did start.</summary>
    /// <returns>A task that completes when the Redis answers and the fixture is ready.</returns>
    public async ValueTask InitializeAsync()
    {
        try
        {
            await StartRedisAsync().ConfigureAwait(false);
            _multiplexer = await ConnectionMultiplexer.ConnectAsync(ConnectionString).ConfigureAwait(false);
            _admin = await ConnectionMultiplexer.ConnectAsync(ConnectionString + ",allowAdmin=true").ConfigureAwait(false);
            await OnStartedAsync().ConfigureAwait(false);
        }
        catch
        {
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs <see cref="OnStoppingAsync"/>, closes the connections and stops the Redis (its processes and temp directory go).</summary>
    /// <returns>A task that completes when everything is stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await OnStoppingAsync().ConfigureAwait(false);
        }
        finally
        {
            if (_admin is not null)
            {
                await _admin.DisposeAsync().ConfigureAwait(false);
                _admin = null;
            }

            if (_multiplexer is not null)
            {
                await _multiplexer.DisposeAsync().ConfigureAwait(false);
                _multiplexer = null;
            }

            await StopRedisAsync().ConfigureAwait(false);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Starts the Redis processes and waits until they answer.</summary>
    /// <returns>A task that completes when <see cref="ConnectionString"/> reaches them.</returns>
    protected abstract Task StartRedisAsync();

    /// <summary>Stops whatever <see cref="StartRedisAsync"/> started (also after it failed half way).</summary>
    /// <returns>A task that completes when the processes are gone.</returns>
    protected abstract ValueTask StopRedisAsync();

    /// <summary>Starts what a subclass adds on top of the Redis (Workers, clients); stopped again in <see cref="OnStoppingAsync"/>.</summary>
    /// <returns>A task that completes when it is ready.</returns>
    protected virtual Task OnStartedAsync() => Task.CompletedTask;

    /// <summary>Stops what <see cref="OnStartedAsync"/> started (also after it failed half way), before the Redis stops.</summary>
    /// <returns>A task that completes when it is stopped.</returns>
    protected virtual ValueTask OnStoppingAsync() => ValueTask.CompletedTask;
}

using AgentStreaming.Streaming.Options;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Tails;

/// <summary>
/// A shared tail's own Redis connection (<c>agent-stream-tail</c>), apart from the application's multiplexer so its
/// subscriptions and reads never queue behind the writers: made on first use, with the reconnect defaults
/// (<see cref="RedisConnectionString.ApplyReconnectDefaults"/>, back within 250 ms of Redis), and closed by the tail.
/// </summary>
internal sealed class TailConnection : IAsyncDisposable
{
    private readonly Func<ConfigurationOptions> _configuration;
    private readonly Action _subscriptionRestored;
    private readonly SemaphoreSlim _connecting = new(1, 1);
    private ConnectionMultiplexer? _connection;
    private bool _disposed;

    /// <param name="configuration">The application's connection settings (a fresh copy per call).</param>
    /// <param name="subscriptionRestored">Called when the subscription connection comes back: what was announced while it was down is lost, so the tail reads its keys again.</param>
    public TailConnection(Func<ConfigurationOptions> configuration, Action subscriptionRestored)
    {
        _configuration = configuration;
        _subscriptionRestored = subscriptionRestored;
    }

    /// <summary>The connection once made, else <see langword="null"/>.</summary>
    public ConnectionMultiplexer? Current => Volatile.Read(ref _connection);

    /// <summary>The connection, made on the first call.</summary>
    /// <exception cref="ObjectDisposedException">The tail was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="RedisConnectionException">Redis could not be reached.</exception>
    public async Task<ConnectionMultiplexer> GetAsync(CancellationToken cancellationToken)
    {
        if (Current is { } existing)
        {
            return existing;
        }

        await _connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connection is null)
            {
                var configuration = _configuration();
                RedisConnectionString.ApplyReconnectDefaults(configuration);
                configuration.ClientName = "agent-stream-tail";
                var connection = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
                connection.ConnectionRestored += (_, e) =>
                {
                    if (e.ConnectionType == ConnectionType.Subscription)
                    {
                        _subscriptionRestored();
                    }
                };
                Volatile.Write(ref _connection, connection);
            }

            return _connection;
        }
        finally
        {
            _connecting.Release();
        }
    }

    /// <summary>Closes the connection; a connection still being made is closed once made.</summary>
    public async ValueTask DisposeAsync()
    {
        await _connecting.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            if (_connection is { } owned)
            {
                await owned.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _connecting.Release();
        }
    }
}

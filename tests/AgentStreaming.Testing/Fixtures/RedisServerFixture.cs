namespace AgentStreaming.Testing;

/// <summary>One real <c>redis-server</c> for the test assembly, on a free loopback port with a temp directory of its own.</summary>
public class RedisServerFixture : RedisFixtureBase
{
    private readonly bool _appendOnly;
    private RedisServer? _server;

    /// <summary>A server without persistence.</summary>
    public RedisServerFixture()
        : this(appendOnly: false)
    {
    }

    /// <summary>A server with or without AOF.</summary>
    /// <param name="appendOnly">Turn on AOF with <c>appendfsync always</c> (see <see cref="RedisServer.StartAsync"/>).</param>
    protected RedisServerFixture(bool appendOnly) => _appendOnly = appendOnly;

    /// <summary>The server.</summary>
    public RedisServer Server => _server ?? throw new InvalidOperationException("Not started.");

    /// <inheritdoc/>
    public override string ConnectionString => Server.ConnectionString;

    /// <inheritdoc/>
    protected override async Task StartRedisAsync() => _server = await RedisServer.StartAsync(_appendOnly).ConfigureAwait(false);

    /// <inheritdoc/>
    protected override async ValueTask StopRedisAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
            _server = null;
        }
    }
}

/// <summary>One real <c>redis-server</c> for the test assembly with AOF on (<c>appendfsync always</c>), as the durable agents' state is kept in production.</summary>
public sealed class AppendOnlyRedisServerFixture : RedisServerFixture
{
    /// <summary>A server with AOF on.</summary>
    public AppendOnlyRedisServerFixture()
        : base(appendOnly: true)
    {
    }
}

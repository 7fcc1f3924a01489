using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

[assembly: AssemblyFixture(typeof(AgentStreaming.Streaming.Tests.RedisFixture))]

namespace AgentStreaming.Streaming.Tests;

/// <summary>One real redis-server for the whole assembly; every test uses its own run ids (and so its own keys).</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    private RedisServer? _server;
    private ConnectionMultiplexer? _multiplexer;

    public RedisServer Server => _server ?? throw new InvalidOperationException("Not started.");

    public IConnectionMultiplexer Multiplexer => _multiplexer ?? throw new InvalidOperationException("Not started.");

    public IDatabase Database => Multiplexer.GetDatabase();

    public async ValueTask InitializeAsync()
    {
        _server = await RedisServer.StartAsync();
        _multiplexer = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
    }

    public RedisStreamResponseHandler CreateHandler(Action<RedisAgentStreamingOptions>? configure = null, IConnectionMultiplexer? multiplexer = null)
    {
        var options = new RedisAgentStreamingOptions();
        configure?.Invoke(options);
        return new RedisStreamResponseHandler(multiplexer ?? Multiplexer, Microsoft.Extensions.Options.Options.Create(options));
    }

    public async ValueTask DisposeAsync()
    {
        if (_multiplexer is not null)
        {
            await _multiplexer.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

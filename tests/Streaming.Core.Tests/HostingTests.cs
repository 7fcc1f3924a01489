using AgentStreaming.Streaming.Callbacks;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

public sealed class HostingTests(RedisFixture redis)
{
    [Theory]
    [InlineData("ConnectionStrings:redis", "host:port")]
    [InlineData("REDIS_CONNECTION_STRING", "host:port")]
    [InlineData("REDIS_CONNECTION_STRING", "redis://")]
    public async Task AddRedisAgentStreaming_BindsTheConnectionStringInBothForms_AndStreamsWork(string key, string form)
    {
        var value = form == "redis://" ? $"redis://127.0.0.1:{redis.Server.Port}" : $"127.0.0.1:{redis.Server.Port}";
        using var host = BuildHost(new() { [key] = value, ["REDIS_STREAM_TTL_MINUTES"] = "2" });
        await host.StartAsync();

        var options = host.Services.GetRequiredService<IOptions<RedisAgentStreamingOptions>>().Value;
        Assert.Equal(TimeSpan.FromMinutes(2), options.StreamTtl);
        var handler = host.Services.GetRequiredService<RedisStreamResponseHandler>();
        Assert.Same(handler, host.Services.GetRequiredService<IAgentStreamReader>());
        Assert.IsType<RedisStreamResponseCallback>(host.Services.GetRequiredService<IAgentResponseCallback>());

        var runId = TestStreams.NewRunId();
        await handler.WriteAsync(runId, ["hello"]);
        Assert.Equal("hello", StreamTranscript.Visible(await handler.ReadAllAsync(runId)));
        var ttl = await redis.Database.KeyTimeToLiveAsync(handler.Keys.Stream(runId));
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(1.9), TimeSpan.FromMinutes(2));
        await host.StopAsync();
    }

    [Fact]
    public async Task AddRedisAgentStreaming_TlsWithRedisCaCertificate_TrustsThatCa_AndStreamsLive()
    {
        await using var server = await RedisServer.StartTlsAsync();
        using var host = BuildHost(new()
        {
            ["ConnectionStrings:redis"] = $"127.0.0.1:{server.TlsPort},ssl=true,sslHost=localhost",
            [RedisConnectionString.CaCertificateKey] = server.TlsCaCertificateFile,
        });
        await host.StartAsync();

        Assert.True(host.Services.GetRequiredService<IConnectionMultiplexer>().IsConnected);
        var handler = host.Services.GetRequiredService<RedisStreamResponseHandler>();
        var runId = TestStreams.NewRunId();
        var reading = handler.ReadAllAsync(runId); // waits on the live tail's own TLS connection
        await handler.WriteAsync(runId, ["over ", "TLS"]);
        Assert.Equal("over TLS", StreamTranscript.Visible(await reading));
        await host.StopAsync();
    }

    [Fact]
    public async Task AddRedisAgentStreaming_NoConnectionString_FailsAtStartNamingWhatToSet()
    {
        var ex = await TestHosts.StartFailsAsync(BuildHost([]));
        Assert.Contains("ConnectionStrings:redis", ex.Message, StringComparison.Ordinal);
        Assert.Contains("REDIS_CONNECTION_STRING", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("REDIS_CONNECTION_STRING", "http://localhost:6379", "redis://")]
    [InlineData("REDIS_CONNECTION_STRING", "redis://localhost:6379/notanumber", "database number")]
    public async Task AddRedisAgentStreaming_MalformedConnectionString_FailsAtStart(string key, string value, string expected)
    {
        var ex = await TestHosts.StartFailsAsync(BuildHost(new() { [key] = value }));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddRedisAgentStreaming_BadTtl_FailsAtStart()
    {
        var ex = await TestHosts.StartFailsAsync(BuildHost(new() { ["ConnectionStrings:redis"] = $"127.0.0.1:{redis.Server.Port}", ["REDIS_STREAM_TTL_MINUTES"] = "soon" }));
        Assert.Contains("REDIS_STREAM_TTL_MINUTES", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("00:00:06", true)]
    [InlineData("00:00:00", true)]
    [InlineData("-00:00:01", false)]
    public async Task AddRedisAgentStreaming_WriteRetryTimeout_IsBoundAndMustNotBeNegative(string value, bool valid)
    {
        using var host = BuildHost(new() { ["ConnectionStrings:redis"] = $"127.0.0.1:{redis.Server.Port}", ["AgentStreaming:Redis:WriteRetryTimeout"] = value });
        if (!valid)
        {
            var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
            Assert.Contains("WriteRetryTimeout must be zero or positive", ex.Message, StringComparison.Ordinal);
            return;
        }

        await host.StartAsync();
        Assert.Equal(TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture), host.Services.GetRequiredService<IOptions<RedisAgentStreamingOptions>>().Value.WriteRetryTimeout);
        await host.StopAsync();
    }

    [Theory]
    [InlineData("MaxBatchSize", "0", "AgentStreaming:Redis:MaxBatchSize must be between 1 and 4096 (was 0)")]
    [InlineData("MaxBatchSize", "4097", "AgentStreaming:Redis:MaxBatchSize must be between 1 and 4096 (was 4097)")]
    [InlineData("ReadBatchSize", "10001", "AgentStreaming:Redis:ReadBatchSize must be between 1 and 10000")]
    [InlineData("MaxPendingEntries", "0", "AgentStreaming:Redis:MaxPendingEntries must be at least 1 (was 0)")]
    [InlineData("ReaderBufferLimit", "-1", "AgentStreaming:Redis:ReaderBufferLimit must be at least 1")]
    [InlineData("ReplicaAcks", "17", "AgentStreaming:Redis:ReplicaAcks must be between 0 and 16 (was 17)")]
    [InlineData("ReplicaAckTimeout", "00:00:00", "AgentStreaming:Redis:ReplicaAckTimeout must be positive")]
    [InlineData("KeyPrefix", "agent-{stream}:", "AgentStreaming:Redis:KeyPrefix must not contain")]
    [InlineData("TailBlockTimeout", "00:00:00", "AgentStreaming:Redis:TailBlockTimeout must be positive")]
    [InlineData("StreamTtl", "00:00:00.500", "AgentStreaming:Redis:StreamTtl must be at least one second")]
    public async Task AddRedisAgentStreaming_ConfiguredValueOutOfRange_FailsAtStartNamingTheSetting(string name, string value, string expected)
    {
        var ex = await TestHosts.StartFailsAsync(BuildHost(new() { ["ConnectionStrings:redis"] = $"127.0.0.1:{redis.Server.Port}", [$"AgentStreaming:Redis:{name}"] = value }));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddRedisAgentStreaming_ValueSetInCode_IsValidatedAtStartToo()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddRedisAgentStreaming(o => { o.ConnectionString = $"127.0.0.1:{redis.Server.Port}"; o.MaxBatchSize = 5000; });
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("AgentStreaming:Redis:MaxBatchSize must be between 1 and 4096 (was 5000)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddRedisAgentStreaming_MaxPendingEntriesAboveTheOldAttributeRange_IsAccepted()
    {
        // The validator is the one source of truth: no attribute caps this at 1,000,000 any more.
        using var host = BuildHost(new() { ["ConnectionStrings:redis"] = $"127.0.0.1:{redis.Server.Port}", ["AgentStreaming:Redis:MaxPendingEntries"] = "2000000" });
        await host.StartAsync();

        Assert.Equal(2_000_000, host.Services.GetRequiredService<IOptions<RedisAgentStreamingOptions>>().Value.MaxPendingEntries);
        await host.StopAsync();
    }

    [Fact]
    public void AddRedisAgentStreaming_WithoutAnApplicationConfiguration_TakesTheCodeConfiguration()
    {
        using var services = new ServiceCollection()
            .AddRedisAgentStreaming(o => { o.ConnectionString = "127.0.0.1:1"; o.ReadBatchSize = 64; }).Services
            .BuildServiceProvider();

        var options = services.GetRequiredService<IOptions<RedisAgentStreamingOptions>>().Value;
        Assert.Equal(64, options.ReadBatchSize);
        Assert.Equal("127.0.0.1:1", options.ConnectionString);
    }

    [Fact]
    public async Task AddRedisAgentStreaming_WithARegisteredMultiplexer_UsesItAndDoesNotDisposeIt()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(redis.Multiplexer);
        builder.Services.AddRedisAgentStreaming();
        using (var host = builder.Build())
        {
            await host.StartAsync();
            var handler = host.Services.GetRequiredService<RedisStreamResponseHandler>();
            var runId = TestStreams.NewRunId();
            await handler.WriteAsync(runId, ["shared"]);
            await host.StopAsync();
        }

        Assert.True(redis.Multiplexer.IsConnected);
        Assert.True(await redis.Database.PingAsync() >= TimeSpan.Zero);
    }

    [Fact]
    public async Task AddRedisAgentStreaming_WithTheApplicationsConfigurationOptions_TheTailConnectsWithThem()
    {
        // As Aspire's AddRedisClient registers them: ConfigurationOptions in the options system, the multiplexer built
        // from them. The connection string points nowhere, so a live read works only if the tail uses the options.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:redis"] = "127.0.0.1:1" });
        builder.Services.Configure<ConfigurationOptions>(o => o.EndPoints.Add("127.0.0.1", redis.Server.Port));
        builder.Services.AddSingleton<IConnectionMultiplexer>(sp => ConnectionMultiplexer.Connect(sp.GetRequiredService<IOptions<ConfigurationOptions>>().Value));
        builder.Services.AddRedisAgentStreaming();
        using var host = builder.Build();
        await host.StartAsync();

        var shared = host.Services.GetRequiredService<IOptions<ConfigurationOptions>>().Value;
        Assert.Same(shared, host.Services.GetRequiredService<IOptions<RedisAgentStreamingOptions>>().Value.Configuration);
        var handler = host.Services.GetRequiredService<RedisStreamResponseHandler>();
        var runId = TestStreams.NewRunId();
        var reading = handler.ReadAllAsync(runId);
        await handler.WriteAsync(runId, ["live ", "through the tail"]);
        Assert.Equal("live through the tail", StreamTranscript.Visible(await reading));
        await host.StopAsync();
    }

    private static IHost BuildHost(Dictionary<string, string?> settings)
        => TestHosts.Build(b => b.Services.AddRedisAgentStreaming(), settings);
}

public sealed class RedisConnectionStringTests
{
    [Theory]
    [InlineData("localhost:6379", "localhost", 6379, null, null, false)]
    [InlineData("redis://localhost:6380", "localhost", 6380, null, null, false)]
    [InlineData("redis://localhost", "localhost", 6379, null, null, false)]
    [InlineData("redis://:s3cret@cache.example:6379/2", "cache.example", 6379, "s3cret", 2, false)]
    [InlineData("rediss://user:p%40ss@cache.example:6380", "cache.example", 6380, "p@ss", null, true)]
    public void TryParse_SupportedForms_GiveTheEndpointAndCredentials(string value, string host, int port, string? password, int? database, bool ssl)
    {
        Assert.True(RedisConnectionString.TryParse(value, out var options, out var error), error);
        var endpoint = Assert.IsType<System.Net.DnsEndPoint>(Assert.Single(options.EndPoints));
        Assert.Equal(host, endpoint.Host);
        Assert.Equal(port, endpoint.Port);
        Assert.Equal(password, options.Password);
        Assert.Equal(database, options.DefaultDatabase);
        Assert.Equal(ssl, options.Ssl);
        Assert.False(options.AbortOnConnectFail);
        // Reconnects every 250 ms after a blip, not on StackExchange.Redis's exponential back-off.
        Assert.IsType<StackExchange.Redis.LinearRetry>(options.ReconnectRetryPolicy);
        Assert.True(options.ReconnectRetryPolicy.ShouldRetry(currentRetryCount: 20, timeElapsedMillisecondsSinceLastRetry: 250));
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.HeartbeatInterval);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("http://localhost:6379")]
    [InlineData("redis://")]
    [InlineData("redis://host/db")]
    public void TryParse_Malformed_ExplainsWithoutEchoingSecrets(string value)
    {
        Assert.False(RedisConnectionString.TryParse(value, out _, out var error));
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    [Theory]
    [InlineData("no TLS")]
    [InlineData("missing file")]
    [InlineData("not a certificate")]
    public void ApplySettings_CaCertificateThatCannotBeUsed_FailsNamingTheSettingAndWhatToDo(string problem)
    {
        var directory = Directory.CreateTempSubdirectory("agent-streaming-ca-").FullName;
        try
        {
            var path = Path.Combine(directory, "ca.crt");
            if (problem != "missing file")
            {
                File.WriteAllText(path, "not a certificate");
            }

            var options = RedisConnectionString.Parse(problem == "no TLS" ? "localhost:6379" : "localhost:6380,ssl=true");
            var configuration = new ConfigurationBuilder().AddInMemoryCollection([new(RedisConnectionString.CaCertificateKey, path)]).Build();

            var ex = Assert.Throws<InvalidOperationException>(() => RedisConnectionString.ApplySettings(options, configuration));

            Assert.StartsWith("Redis:CaCertificate", ex.Message, StringComparison.Ordinal);
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            Assert.Contains(problem switch { "no TLS" => "ssl=true", "missing file" => "does not exist", _ => "PEM or DER" }, ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Parse_Malformed_ThrowsArgumentException()
        => Assert.Throws<ArgumentException>(() => RedisConnectionString.Parse("ftp://x"));
}

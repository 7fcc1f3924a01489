using System.Net;
using AgentStreaming.Client.Commands;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.Streaming.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Client.Hosting;

/// <summary>
/// Builds and starts the client's Generic Host: the Redis connection (checked first, so "Redis is unreachable" and
/// "no Worker" are told apart), the stream reader, and — unless only an existing run is read — the Orleans client.
/// </summary>
internal static class ClientHost
{
    /// <summary>How long the client tries to reach Redis at start.</summary>
    public static readonly TimeSpan RedisConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long <c>--run</c> waits for a stream that does not exist (yet) unless configured.</summary>
    public static readonly TimeSpan ReplayNotFoundTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Builds and starts the host.</summary>
    /// <param name="settings">The command line.</param>
    /// <param name="cancellationToken">Aborts the start (Ctrl+C).</param>
    /// <returns>The started services.</returns>
    /// <exception cref="ClientException">Bad configuration, Redis unreachable, or no Worker within the deadline.</exception>
    public static async Task<ClientServices> StartAsync(ClientSettings settings, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.AddServiceDefaults();
        ConfigureLogging(builder);
        builder.Services.AddSingleton<IHostLifetime, ClientHostLifetime>();

        var redis = RedisConnection(settings, builder.Configuration);
        builder.Configuration["ConnectionStrings:redis"] = redis;
        // Aspire's Redis client: one multiplexer in DI, with Redis spans in the run's trace.
        builder.AddRedisClient("redis", redisSettings => redisSettings.ConnectionString = redis, options =>
        {
            options.ClientName ??= "agent-streaming-client";
            options.ConnectTimeout = (int)RedisConnectTimeout.TotalMilliseconds;
            RedisConnectionString.ApplySettings(options, builder.Configuration);
        });
        if (settings.Mode == ClientMode.Replay)
        {
            if (builder.Configuration[$"{RedisAgentStreamingOptions.SectionName}:{nameof(RedisAgentStreamingOptions.NotFoundTimeout)}"] is null)
            {
                builder.Configuration[$"{RedisAgentStreamingOptions.SectionName}:{nameof(RedisAgentStreamingOptions.NotFoundTimeout)}"] = ReplayNotFoundTimeout.ToString();
            }

            // Resuming a stream with a continuation token needs Redis only.
            builder.Services.AddDurableAgentsStreamClient();
        }
        else
        {
            var clusterId = settings.ClusterId ?? builder.Configuration["Orleans:ClusterId"] ?? DurableAgentsOrleansExtensions.DefaultClusterId;
            builder.UseOrleansClient(client => client.UseDurableAgentsRedis(redis, clusterId));
            builder.Services.AddDurableAgentsClient();
        }

        var host = builder.Build();
        try
        {
            // Redis first, so that "Redis is unreachable" and "no Worker" are told apart.
            await EnsureRedisReachableAsync(host, redis, cancellationToken);
            await StartHostAsync(host, settings, builder.Configuration, cancellationToken);
            return new ClientServices(host);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    private static void ConfigureLogging(HostApplicationBuilder builder)
    {
        // The console belongs to the conversation: logs go to stderr, and only problems by default
        // (Logging__LogLevel__Default=Information etc. to see more).
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.Logging.AddFilter("Orleans", LogLevel.Critical);
        builder.Logging.AddFilter("Microsoft.Orleans", LogLevel.Critical);
        // A failed start is explained by the client itself (no Worker, bad configuration), not by a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.Critical);
    }

    private static string RedisConnection(ClientSettings settings, ConfigurationManager configuration)
    {
        var (value, source) = settings.Redis is { } fromArgs
            ? (fromArgs, "--redis")
            : configuration.GetConnectionString("redis") is { } fromConnectionStrings
                ? (fromConnectionStrings, "ConnectionStrings:redis")
                : (configuration["REDIS_CONNECTION_STRING"], "REDIS_CONNECTION_STRING");
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ClientException(ExitCodes.BadArguments,
                "No Redis connection string. Pass --redis localhost:6379, or set ConnectionStrings__redis (e.g. 'localhost:6379') or REDIS_CONNECTION_STRING (e.g. 'redis://localhost:6379'), or start the client from the AppHost.");
        }

        if (!RedisConnectionString.TryParse(value, out var options, out var error))
        {
            throw new ClientException(ExitCodes.BadArguments, $"The Redis connection string from {source} is not valid: {error}");
        }

        try
        {
            RedisConnectionString.ApplySettings(options, configuration);
        }
        catch (InvalidOperationException ex)
        {
            throw new ClientException(ExitCodes.BadArguments, ex.Message);
        }

        // StackExchange.Redis's own form, which Aspire's Redis client reads (a redis:// URL is converted).
        return options.ToString(includePassword: true);
    }

    private static async Task EnsureRedisReachableAsync(IHost host, string connectionString, CancellationToken cancellationToken)
    {
        // Resolving the durable agent client connects to Redis, waiting at most the connect timeout.
        var agents = await Task.Run(() => host.Services.GetRequiredService<DurableAgentClient>(), cancellationToken).WaitAsync(cancellationToken);
        if (!agents.IsAvailable)
        {
            var where = string.Join(", ", RedisConnectionString.Parse(connectionString).EndPoints.Select(Describe));
            throw new ClientException(ExitCodes.RedisUnreachable,
                $"Redis at {where} is unreachable (tried for up to {RedisConnectTimeout.TotalSeconds:0} s). Start Redis (or the AppHost), or point --redis / ConnectionStrings__redis / REDIS_CONNECTION_STRING at a running server.");
        }
    }

    private static async Task StartHostAsync(IHost host, ClientSettings settings, ConfigurationManager configuration, CancellationToken cancellationToken)
    {
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (OptionsValidationException ex)
        {
            throw new ClientException(ExitCodes.BadArguments, "Invalid configuration: " + string.Join(" ", ex.Failures), ex);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && settings.Mode != ClientMode.Replay)
        {
            var timeout = configuration.GetSection(DurableAgentsClientOptions.SectionName).Get<DurableAgentsClientOptions>()?.ConnectTimeout
                ?? new DurableAgentsClientOptions().ConnectTimeout;
            var clusterId = settings.ClusterId ?? configuration["Orleans:ClusterId"] ?? DurableAgentsOrleansExtensions.DefaultClusterId;
            throw new ClientException(ExitCodes.NoWorker,
                $"No Worker answered within {timeout.TotalSeconds:0.#} s (cluster id '{clusterId}'). Start a Worker (or the AppHost) with the same Redis and cluster id, " +
                "or raise DurableAgents__Client__ConnectTimeout.", ex);
        }
    }

    private static string Describe(EndPoint endPoint) => endPoint switch
    {
        DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => endPoint.ToString() ?? "?",
    };
}

/// <summary>The started host and what the commands use from it.</summary>
/// <param name="host">The host.</param>
internal sealed class ClientServices(IHost host) : IAsyncDisposable
{
    /// <summary>The durable agents: start, stream, cancel and inspect runs (in <c>--run</c> mode: stream only, from Redis).</summary>
    public DurableAgentClient Agents => host.Services.GetRequiredService<DurableAgentClient>();

    /// <summary>
    /// The principal the client's conversations belong to (<c>Client:Principal</c>, environment <c>Client__Principal</c>;
    /// default <c>local</c>, the open Worker's principal), so that user finds them in the web chat and agents page. The
    /// client reaches the durable agents directly (it holds the Redis and cluster access, as a Worker does), not through
    /// the HTTP API: it is trusted to name its principal, and no token is checked.
    /// </summary>
    public string Principal => host.Services.GetRequiredService<IConfiguration>()["Client:Principal"] is { Length: > 0 } principal ? principal : "local";

    /// <summary>
    /// A page of the Worker's web UI, found through service discovery (<c>http://worker</c>, which the AppHost's
    /// <c>WithReference(worker)</c> resolves), or <see langword="null"/> when the client was not started that way.
    /// </summary>
    /// <param name="pathAndQuery">The page, e.g. <c>/agents/</c>.</param>
    /// <returns>The page's address.</returns>
    public async Task<Uri?> WorkerPageAsync(string pathAndQuery)
    {
        var configuration = host.Services.GetRequiredService<IConfiguration>();
        if (configuration.GetSection("services:worker").GetChildren().Any() is false)
        {
            return null;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var resolver = host.Services.GetRequiredService<Microsoft.Extensions.ServiceDiscovery.ServiceEndpointResolver>();
            var endpoints = await resolver.GetEndpointsAsync("http://worker", timeout.Token);
            return (endpoints.Endpoints.Count > 0 ? endpoints.Endpoints[0].EndPoint : null) switch
            {
                DnsEndPoint dns => new Uri($"http://{dns.Host}:{dns.Port}{pathAndQuery}"),
                IPEndPoint ip => new Uri($"http://{ip}{pathAndQuery}"),
                _ => null,
            };
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        using (var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try
            {
                await host.StopAsync(stopping.Token);
            }
            catch (OperationCanceledException)
            {
                // A Worker gone mid-shutdown; nothing to wait for.
            }
        }

        // The host owns the Redis multiplexer (AddRedisClient) and disposes it.
        host.Dispose();
    }
}

/// <summary>
/// A host lifetime that leaves Ctrl+C and SIGTERM alone: the client handles Ctrl+C itself (it detaches a live view)
/// and stops the host when its command ends.
/// </summary>
internal sealed class ClientHostLifetime : IHostLifetime
{
    /// <inheritdoc />
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

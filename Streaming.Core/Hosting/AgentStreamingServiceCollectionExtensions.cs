using AgentStreaming.Streaming.Callbacks;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Redis agent response streams.</summary>
public static class AgentStreamingServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="RedisStreamResponseHandler"/> (also as <see cref="IAgentStreamReader"/>),
    /// <see cref="RedisStreamResponseCallback"/> as <see cref="IAgentResponseCallback"/>, and — unless one is already
    /// registered — an <see cref="IConnectionMultiplexer"/> for the configured connection string.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Optional code configuration, applied after configuration binding.</param>
    /// <returns>The options builder, to chain further configuration or validation.</returns>
    /// <remarks>
    /// Options bind from <c>AgentStreaming:Redis</c>; the connection falls back to the application's own
    /// <see cref="ConfigurationOptions"/> (<c>IOptions&lt;ConfigurationOptions&gt;</c>, which Aspire's
    /// <c>AddRedisClient</c> builds its multiplexer from, callbacks and credentials included), then to
    /// <c>ConnectionStrings:redis</c>, then <c>REDIS_CONNECTION_STRING</c> (<c>host:port</c> or <c>redis://</c> form), the TTL to
    /// <c>REDIS_STREAM_TTL_MINUTES</c>; <paramref name="configure"/> runs after that.
    /// Options are validated once, when the host starts, by one validator whose messages name the setting (the ranges
    /// are documented on <see cref="RedisAgentStreamingOptions"/>).
    /// </remarks>
    public static OptionsBuilder<RedisAgentStreamingOptions> AddRedisAgentStreaming(
        this IServiceCollection services,
        Action<RedisAgentStreamingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var multiplexerRegistered = services.Any(d => d.ServiceType == typeof(IConnectionMultiplexer));

        // One way in: configuration (when the application has it), then the caller's code, then one validator at start.
        var builder = services.AddOptions<RedisAgentStreamingOptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<RedisAgentStreamingOptions>, RedisAgentStreamingOptionsSetup>());
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        builder.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisAgentStreamingOptions>>(
            new RedisAgentStreamingOptionsValidator(multiplexerRegistered)));

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IConnectionMultiplexer>(provider =>
        {
            var options = provider.GetRequiredService<IOptions<RedisAgentStreamingOptions>>().Value;
            var configuration = options.Configuration?.Clone() ?? RedisConnectionString.Parse(options.ConnectionString!);
            configuration.ClientName ??= "agent-streaming";
            return ConnectionMultiplexer.Connect(configuration);
        });
        services.TryAddSingleton(provider => new RedisStreamResponseHandler(
            provider.GetRequiredService<IConnectionMultiplexer>(),
            provider.GetRequiredService<IOptions<RedisAgentStreamingOptions>>(),
            provider.GetService<ILogger<RedisStreamResponseHandler>>(),
            provider.GetService<TimeProvider>()));
        services.TryAddSingleton<IAgentStreamReader>(provider => provider.GetRequiredService<RedisStreamResponseHandler>());
        services.TryAddSingleton(provider => provider.GetRequiredService<RedisStreamResponseHandler>().ReplicaAcks);
        services.TryAddSingleton<RedisStreamResponseCallback>();
        services.TryAddSingleton<IAgentResponseCallback>(provider => provider.GetRequiredService<RedisStreamResponseCallback>());
        return builder;
    }
}

using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Options;

/// <summary>
/// Binds <see cref="RedisAgentStreamingOptions"/> from the application's configuration, when it has one: the section
/// <c>AgentStreaming:Redis</c>, then the names the original sample used. The connection falls back to the
/// application's own <see cref="ConfigurationOptions"/> (Aspire's <c>AddRedisClient</c> builds its multiplexer from
/// them), then to <c>ConnectionStrings:redis</c>, then <c>REDIS_CONNECTION_STRING</c> (with the CA of
/// <see cref="RedisConnectionString.CaCertificateKey"/> trusted, when set); <c>REDIS_STREAM_TTL_MINUTES</c>
/// sets <see cref="RedisAgentStreamingOptions.StreamTtl"/>. Runs before the caller's own <c>configure</c> callback.
/// </summary>
/// <param name="configuration">The application's configuration: none (a bare service collection) or one.</param>
/// <param name="redisClient">The application's StackExchange.Redis options (empty unless the application set them).</param>
internal sealed class RedisAgentStreamingOptionsSetup(IEnumerable<IConfiguration> configuration, IOptions<ConfigurationOptions> redisClient)
    : IConfigureOptions<RedisAgentStreamingOptions>
{
    /// <inheritdoc />
    /// <exception cref="OptionsValidationException"><c>REDIS_STREAM_TTL_MINUTES</c> is not a positive number.</exception>
    public void Configure(RedisAgentStreamingOptions options)
    {
        if (configuration.LastOrDefault() is not { } config)
        {
            return;
        }

        config.GetSection(RedisAgentStreamingOptions.SectionName).Bind(options);
        if (options.Configuration is null && string.IsNullOrWhiteSpace(options.ConnectionString)
            && redisClient.Value is { EndPoints.Count: > 0 } shared)
        {
            // The tail's connection keeps their TLS, certificate callbacks and credentials.
            options.Configuration = shared;
        }

        if (options.Configuration is null && string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            options.ConnectionString = config.GetConnectionString("redis") ?? config["REDIS_CONNECTION_STRING"];
        }

        if (options.Configuration is null && config[RedisConnectionString.CaCertificateKey] is { Length: > 0 }
            && RedisConnectionString.TryParse(options.ConnectionString, out var parsed, out _))
        {
            // A CA to trust cannot be written in a connection string: the connections opened here take it from options.
            options.Configuration = RedisConnectionString.ApplySettings(parsed, config);
        }

        if (config["REDIS_STREAM_TTL_MINUTES"] is { Length: > 0 } minutes)
        {
            options.StreamTtl = double.TryParse(minutes, NumberStyles.Float, CultureInfo.InvariantCulture, out var m) && m > 0
                ? TimeSpan.FromMinutes(m)
                : throw new OptionsValidationException(nameof(RedisAgentStreamingOptions), typeof(RedisAgentStreamingOptions),
                    [$"REDIS_STREAM_TTL_MINUTES must be a positive number of minutes (was '{minutes}')."]);
        }
    }
}

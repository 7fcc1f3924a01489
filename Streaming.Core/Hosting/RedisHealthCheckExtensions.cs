using AgentStreaming.Streaming.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="RedisHealthCheck"/>.</summary>
public static class RedisHealthCheckExtensions
{
    /// <summary>
    /// Adds the readiness check of the application's Redis connection (<c>IConnectionMultiplexer</c> from the
    /// services) that works on every topology: a single server, TLS, and Redis Cluster without admin mode.
    /// </summary>
    /// <param name="builder">The health checks.</param>
    /// <param name="name">The check's name. Default <c>redis</c>.</param>
    /// <returns>The health checks.</returns>
    public static IHealthChecksBuilder AddRedisAgentStreamingCheck(this IHealthChecksBuilder builder, string name = "redis")
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddCheck<RedisHealthCheck>(name);
    }
}

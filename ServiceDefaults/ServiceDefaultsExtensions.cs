using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using StackExchange.Redis;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The defaults every AgentStreaming service shares: OpenTelemetry tracing, metrics and logging (exported over
/// OTLP whenever <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set), health checks and HttpClient resilience.
/// </summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>The readiness endpoint: every health check, Redis included.</summary>
    public const string HealthEndpoint = "/health";

    /// <summary>The liveness endpoint: only checks tagged <c>live</c>.</summary>
    public const string AliveEndpoint = "/alive";

    /// <summary>Trace sources the services listen to (Orleans' very chatty <c>Microsoft.Orleans.Runtime</c> is left out).</summary>
    public static readonly IReadOnlyList<string> TraceSources =
    [
        "AgentStreaming.*",
        "Microsoft.Orleans.Application",
        "Microsoft.Orleans.Lifecycle",
        "Microsoft.Orleans.Storage",
        "*Microsoft.Agents.AI",
        "*Microsoft.Agents.AI.*",
        "Experimental.Microsoft.Extensions.AI",
    ];

    /// <summary>Meters the services export.</summary>
    public static readonly IReadOnlyList<string> Meters =
    [
        "AgentStreaming.*",
        "Microsoft.Orleans",
        "*Microsoft.Agents.AI",
        "Experimental.Microsoft.Extensions.AI",
        "System.Net.Http",
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
    ];

    /// <summary>Adds OpenTelemetry, health checks (Redis included when a multiplexer is registered) and HttpClient resilience.</summary>
    /// <typeparam name="TBuilder">The host builder type.</typeparam>
    /// <param name="builder">The host builder.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler());
        return builder;
    }

    /// <summary>Configures OpenTelemetry logging, tracing and metrics, and the OTLP exporter when an endpoint is configured.</summary>
    /// <typeparam name="TBuilder">The host builder type.</typeparam>
    /// <param name="builder">The host builder.</param>
    /// <returns>The builder.</returns>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        var telemetry = builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics =>
            {
                metrics.AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddRuntimeInstrumentation();
                foreach (var meter in Meters)
                {
                    metrics.AddMeter(meter);
                }
            })
            .WithTracing(tracing =>
            {
                tracing.AddSource([.. TraceSources])
                    .AddAspNetCoreInstrumentation(o => o.Filter = context =>
                        !context.Request.Path.StartsWithSegments(HealthEndpoint) && !context.Request.Path.StartsWithSegments(AliveEndpoint))
                    .AddHttpClientInstrumentation();
            });

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            telemetry.UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>Adds the <c>self</c> liveness check and, when Redis is used, a readiness check that pings it.</summary>
    /// <typeparam name="TBuilder">The host builder type.</typeparam>
    /// <param name="builder">The host builder.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"])
            .AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);
        return builder;
    }

    /// <summary>Maps <c>/health</c> (ready: all checks) and <c>/alive</c> (live checks only).</summary>
    /// <param name="app">The web application.</param>
    /// <returns>The application.</returns>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks(HealthEndpoint);
        app.MapHealthChecks(AliveEndpoint, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        return app;
    }

    private sealed class RedisHealthCheck(IServiceProvider services) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (services.GetService<IConnectionMultiplexer>() is not { } redis)
            {
                return HealthCheckResult.Healthy("Redis is not used by this service.");
            }

            try
            {
                var latency = await redis.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
                return HealthCheckResult.Healthy($"Redis answered PING in {latency.TotalMilliseconds:0.0} ms.");
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy("Redis does not answer PING.", ex);
            }
        }
    }
}

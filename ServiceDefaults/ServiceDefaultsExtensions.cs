using AgentStreaming.ServiceDefaults.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The defaults every AgentStreaming service shares, in the shape of Aspire's service defaults: OpenTelemetry
/// tracing, metrics and logging (exported over OTLP whenever <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, which the
/// AppHost does, so everything shows in the Aspire dashboard), health checks, service discovery and HttpClient
/// resilience.
/// </summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>The readiness endpoint: every health check (the Worker adds its Redis check, which works on a single server and on a cluster).</summary>
    public const string HealthEndpoint = "/health";

    /// <summary>The liveness endpoint: only checks tagged <c>live</c>.</summary>
    public const string AliveEndpoint = "/alive";

    /// <summary>
    /// The switch for traces of background work (<c>AgentStreaming__Telemetry__TraceBackgroundWork=true</c>), default
    /// off: periodic work (run lease renewals, recovery scans, the write pump's shared Redis calls, health probes)
    /// starts no trace of its own, so the dashboard's trace list shows requests and runs. Its metrics and logs are kept
    /// either way. See <see cref="BackgroundWorkSampler"/>.
    /// </summary>
    public const string TraceBackgroundWorkKey = "AgentStreaming:Telemetry:TraceBackgroundWork";

    /// <summary>
    /// How long a health check may run before it counts as failed (<see cref="HealthCheckRegistration.Timeout"/>): 1 s,
    /// for every check that does not set a timeout of its own, so <c>/health</c> answers within it when a dependency
    /// hangs (a Redis PING waits for the client's 5 s timeout while Redis is down).
    /// </summary>
    public static readonly TimeSpan HealthCheckTimeout = TimeSpan.FromSeconds(1);

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
    ];

    /// <summary>Adds OpenTelemetry, the default health checks, service discovery and HttpClient resilience.</summary>
    /// <typeparam name="TBuilder">The host builder type.</typeparam>
    /// <param name="builder">The host builder.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            // "http://worker" resolves to the Worker's endpoint the AppHost passed as services__worker__http__0.
            http.AddServiceDiscovery();
        });
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

        builder.Services.AddOpenTelemetry()
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
                var traceBackgroundWork = builder.Configuration.GetValue(TraceBackgroundWorkKey, defaultValue: false);
                tracing.AddSource(builder.Environment.ApplicationName)
                    .AddSource([.. TraceSources])
                    .SetSampler(new ParentBasedSampler(new BackgroundWorkSampler(traceBackgroundWork)))
                    .AddAspNetCoreInstrumentation(o => o.Filter = context => traceBackgroundWork
                        || (!context.Request.Path.StartsWithSegments(HealthEndpoint) && !context.Request.Path.StartsWithSegments(AliveEndpoint)))
                    .AddHttpClientInstrumentation();
            });

        builder.AddOpenTelemetryExporters();
        return builder;
    }

    /// <summary>
    /// Adds the <c>self</c> liveness check, and gives every check without a timeout of its own
    /// <see cref="HealthCheckTimeout"/>. The Worker adds its Redis readiness check itself.
    /// </summary>
    /// <typeparam name="TBuilder">The host builder type.</typeparam>
    /// <param name="builder">The host builder.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        // After every Configure: checks registered later (the Worker's Redis check) get the timeout too.
        builder.Services.PostConfigure<HealthCheckServiceOptions>(options =>
        {
            foreach (var registration in options.Registrations.Where(r => r.Timeout <= TimeSpan.Zero))
            {
                registration.Timeout = HealthCheckTimeout;
                var check = registration.Factory;
                registration.Factory = services => new TimeBoundHealthCheck(check(services));
            }
        });
        return builder;
    }

    /// <summary>Maps <c>/health</c> (ready: every check) and <c>/alive</c> (live checks only).</summary>
    /// <param name="app">The web application.</param>
    /// <returns>The application.</returns>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks(HealthEndpoint);
        app.MapHealthChecks(AliveEndpoint, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        return app;
    }

    private static TBuilder AddOpenTelemetryExporters<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>
    /// Ends a check when the health check service's timeout cancels it, also when the check itself does not listen
    /// (Redis's PING takes no cancellation token): the service then reports the timeout as the check's failure.
    /// </summary>
    private sealed class TimeBoundHealthCheck(IHealthCheck check) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
            => check.CheckHealthAsync(context, cancellationToken).WaitAsync(cancellationToken);
    }
}

using System.Threading.RateLimiting;
using AgentStreaming.Worker.Api;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the HTTP agent API.</summary>
public static class AgentApiServiceCollectionExtensions
{
    /// <summary>The rate limiting policy of run creation.</summary>
    public const string RunCreationPolicy = "agent-api-runs";

    /// <summary>The CORS policy of the API (only registered when <c>AgentApi:CorsOrigins</c> lists origins).</summary>
    public const string CorsPolicy = "agent-api";

    /// <summary>
    /// Registers the API's services: options (<c>AgentApi</c> section, validated at start), the run index, the stream
    /// writer, problem details, the per-client rate limit on run creation, CORS (closed unless origins are listed)
    /// and the OpenAPI document. Map the endpoints with <c>app.MapAgentApi()</c>.
    /// </summary>
    /// <param name="services">The services (the durable agents must be registered too).</param>
    /// <param name="configuration">The configuration, read now for the CORS origins.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddAgentApi(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<AgentApiOptions>().BindConfiguration(AgentApiOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentApiOptions>, AgentApiOptionsValidator>());
        services.TryAddSingleton<StreamFaults>();
        services.TryAddSingleton<RunStreamer>();
        services.TryAddSingleton<ApiKeyFilter>();
        services.AddProblemDetails();
        services.AddOpenApi();

        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.AddPolicy(RunCreationPolicy, context =>
            {
                var options = context.RequestServices.GetRequiredService<IOptions<AgentApiOptions>>().Value;
                var client = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
                return options.RunsPerWindow == 0
                    ? RateLimitPartition.GetNoLimiter(client)
                    : RateLimitPartition.GetFixedWindowLimiter(client, _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = options.RunsPerWindow,
                        Window = options.RateLimitWindow,
                        QueueLimit = 0,
                    });
            });
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var http = rejected.HttpContext;
                AgentApiLog.RateLimited(http.RequestServices.GetRequiredService<ILogger<RunStreamer>>(), http.Connection.RemoteIpAddress?.ToString() ?? "unknown");
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
                http.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                await AgentApiProblems.Problem(
                    StatusCodes.Status429TooManyRequests,
                    "Too many runs",
                    $"This client started too many runs; try again in {Math.Ceiling(retryAfter.TotalSeconds)} s.").ExecuteAsync(http).ConfigureAwait(false);
            };
        });

        var origins = configuration.GetSection(AgentApiOptions.SectionName).GetSection(nameof(AgentApiOptions.CorsOrigins)).Get<string[]>() ?? [];
        if (origins.Length > 0)
        {
            services.AddCors(cors => cors.AddPolicy(CorsPolicy, policy => policy
                .WithOrigins(origins)
                .WithMethods("GET", "POST")
                .WithHeaders("Content-Type", "Accept", "Last-Event-ID", "Prefer", ApiKeyFilter.HeaderName, "Authorization")
                .WithExposedHeaders("Location", "X-Run-Id", "X-Conversation-Id", "Retry-After", "Preference-Applied")));
        }

        return services;
    }
}

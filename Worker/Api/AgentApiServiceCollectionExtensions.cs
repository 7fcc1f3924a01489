using System.Threading.RateLimiting;
using AgentStreaming.Worker.Api;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the HTTP agent API.</summary>
public static class AgentApiServiceCollectionExtensions
{
    /// <summary>The CORS policy of the API (only registered when <c>AgentApi:CorsOrigins</c> lists origins).</summary>
    public const string CorsPolicy = "agent-api";

    /// <summary>
    /// Registers the API's services: options (<c>AgentApi</c> section, validated at start), the stream writer, problem
    /// details, CORS (closed unless origins are listed) and the OpenAPI document, and puts its middleware in front of
    /// the whole pipeline (through an <see cref="IStartupFilter"/>, whatever the order of the <c>Map*</c> calls): the
    /// exception handler (problem details, 503 + <c>Retry-After</c> when Redis is unreachable), status code pages, CORS,
    /// the per-client rate limit on every route, and authentication on every non-health route
    /// (<see cref="AgentApiAuthentication.AddAgentApiAuthentication"/>). Map the endpoints with <c>app.MapAgentApi()</c>.
    /// </summary>
    /// <param name="services">The services (the durable agents must be registered too).</param>
    /// <param name="configuration">The configuration, for the JWT bearer settings (<c>Authentication:Schemes:Bearer</c>); without it only API keys are taken.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddAgentApi(this IServiceCollection services, IConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddAgentApiAuthentication(configuration ?? new ConfigurationBuilder().Build());
        services.AddOptions<AgentApiOptions>().BindConfiguration(AgentApiOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentApiOptions>, AgentApiOptionsValidator>());
        services.TryAddSingleton<RunStreamer>();
        services.AddProblemDetails();
        services.AddOpenApi();

        services.AddExceptionHandler<AgentApiExceptionHandler>();
        services.TryAddEnumerable(ServiceDescriptor.Transient<IStartupFilter, AgentApiStartupFilter>());
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            // One limiter for every route, decided by path before routing (so it covers routes mapped anywhere):
            // run creation has its own budget per client, everything else (reads, cancels, pages) another.
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                var options = context.RequestServices.GetRequiredService<IOptions<AgentApiOptions>>().Value;
                var client = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
                if (IsHealthProbe(context.Request))
                {
                    return RateLimitPartition.GetNoLimiter("health");
                }

                var creation = IsRunCreation(context.Request);
                var permits = creation ? options.RunsPerWindow : options.RequestsPerWindow;
                var key = (creation ? "runs:" : "requests:") + client;
                return permits == 0
                    ? RateLimitPartition.GetNoLimiter(key)
                    : RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = permits,
                        Window = options.RateLimitWindow,
                        QueueLimit = 0,
                    });
            });
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var http = rejected.HttpContext;
                var creation = IsRunCreation(http.Request);
                AgentApiLog.RateLimited(http.RequestServices.GetRequiredService<ILogger<RunStreamer>>(), http.Connection.RemoteIpAddress?.ToString() ?? "unknown", creation ? "run creation" : "requests");
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
                http.Response.Headers.RetryAfter = AgentApiExceptionHandler.Seconds(retryAfter);
                var detail = $"This client sent too many {(creation ? "run requests" : "requests")}; try again in {AgentApiExceptionHandler.Seconds(retryAfter)} s.";
                var answer = AgentStreaming.Worker.OpenAI.OpenAIErrors.IsOpenAIRequest(http.Request)
                    ? AgentStreaming.Worker.OpenAI.OpenAIErrors.TooManyRequests(detail)
                    : AgentApiProblems.Problem(StatusCodes.Status429TooManyRequests, creation ? "Too many runs" : "Too many requests", detail);
                await answer.ExecuteAsync(http).ConfigureAwait(false);
            };
        });

        services.AddCors();
        services.AddOptions<CorsOptions>().Configure<IOptions<AgentApiOptions>>((cors, api) =>
        {
            if (api.Value.CorsOrigins.Count > 0)
            {
                cors.AddPolicy(CorsPolicy, policy => policy
                    .WithOrigins([.. api.Value.CorsOrigins])
                    .WithMethods("GET", "POST")
                    .WithHeaders("Content-Type", "Accept", "Last-Event-ID", "Prefer", AgentStreaming.Worker.Security.ApiKeyAuthenticationHandler.HeaderName, "Authorization")
                    .WithExposedHeaders("Location", "X-Run-Id", "X-Conversation-Id", "Retry-After", "Preference-Applied"));
            }
        });

        return services;
    }

    private static bool IsHealthProbe(HttpRequest request)
        => request.Path.Equals("/health", StringComparison.OrdinalIgnoreCase) || request.Path.Equals("/alive", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the request starts a run: <c>POST /agents/{agent}/runs</c> or <c>POST /v1/responses</c>.</summary>
    private static bool IsRunCreation(HttpRequest request)
    {
        if (!HttpMethods.IsPost(request.Method) || request.Path.Value is not { } path)
        {
            return false;
        }

        var segments = path.Trim('/').Split('/');
        return segments is ["agents", { Length: > 0 }, "runs"] or ["v1", "responses"];
    }
}

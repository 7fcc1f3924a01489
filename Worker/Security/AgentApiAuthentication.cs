using AgentStreaming.Worker.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers the Worker's authentication, the framework's own: JWT bearer tokens configured the standard way
/// (<c>Authentication:Schemes:Bearer:*</c>, so an identity provider's tokens and <c>dotnet user-jwts</c> tokens work),
/// named API keys (<c>AgentApi:ApiKeys:&lt;principal&gt;</c>, an <see cref="AuthenticationHandler{TOptions}"/>) and the
/// one-user key (<c>AgentApi:ApiKey</c>), behind one policy scheme that picks the handler from what the request carries.
/// With none of them configured the Worker runs open (local use) and says so at start.
/// </summary>
public static class AgentApiAuthentication
{
    /// <summary>The default scheme: forwards to <see cref="JwtScheme"/> or <see cref="ApiKeyScheme"/>.</summary>
    public const string PolicyScheme = "AgentApi";

    /// <summary>The JWT bearer scheme (the framework's default name, whose settings are <c>Authentication:Schemes:Bearer</c>).</summary>
    public const string JwtScheme = JwtBearerDefaults.AuthenticationScheme;

    /// <summary>The API key scheme.</summary>
    public const string ApiKeyScheme = "ApiKey";

    /// <summary>The role that sees every principal's conversations and runs, and the Orleans dashboard.</summary>
    public const string AdminRole = "agents.admin";

    /// <summary>The configuration section of the JWT bearer scheme.</summary>
    public const string JwtSection = "Authentication:Schemes:Bearer";

    /// <summary>
    /// Registers the schemes. JWT bearer only when <c>Authentication:Schemes:Bearer</c> has settings; the API key
    /// handler always (it authenticates nobody when no key is configured).
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The configuration, to see whether JWT bearer tokens are configured.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddAgentApiAuthentication(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var jwt = configuration.GetSection(JwtSection).GetChildren().Any();
        services.TryAddSingleton(new AgentApiAccessMode(jwt));
        var authentication = services.AddAuthentication(PolicyScheme)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyScheme, null)
            .AddPolicyScheme(PolicyScheme, "JWT bearer token or API key", options => options.ForwardDefaultSelector = context => SelectScheme(context.Request, jwt));
        if (jwt)
        {
            // Binds Authentication:Schemes:Bearer (ValidIssuer, ValidAudiences, SigningKeys, Authority, …) by itself.
            authentication.AddJwtBearer();
            services.AddOptions<JwtBearerOptions>(JwtScheme).Configure(options =>
            {
                options.Events ??= new JwtBearerEvents();
                options.Events.OnMessageReceived = context =>
                {
                    // EventSource cannot send headers: the chat page keeps the token in the cookie, as it does a key.
                    if (string.IsNullOrEmpty(context.Token) && context.Request.Headers.Authorization.Count == 0
                        && context.Request.Cookies[ApiKeyAuthenticationHandler.CookieName] is { } cookie && LooksLikeJwt(cookie))
                    {
                        context.Token = cookie;
                    }

                    return Task.CompletedTask;
                };
            });
        }

        services.TryAddSingleton<AgentApiAccessMiddleware>();
        return services;
    }

    /// <summary>
    /// A JWT (three dot-separated parts, a signed one or an <c>alg: none</c> one) goes to the JWT handler when tokens are
    /// configured; anything else, and every <c>X-Api-Key</c> header, to the API key handler. OpenAI SDKs send their key as
    /// <c>Authorization: Bearer</c>, so a named key works there too.
    /// </summary>
    private static string SelectScheme(HttpRequest request, bool jwt)
    {
        if (!jwt || request.Headers.ContainsKey(ApiKeyAuthenticationHandler.HeaderName))
        {
            return ApiKeyScheme;
        }

        if (ApiKeyAuthenticationHandler.BearerValue(request) is { } bearer)
        {
            return LooksLikeJwt(bearer) ? JwtScheme : ApiKeyScheme;
        }

        return request.Cookies[ApiKeyAuthenticationHandler.CookieName] is { } cookie && LooksLikeJwt(cookie) ? JwtScheme : ApiKeyScheme;
    }

    private static bool LooksLikeJwt(string value) => value.Count(c => c == '.') == 2 && value.StartsWith("eyJ", StringComparison.Ordinal);
}

using System.Security.Claims;
using AgentStreaming.Worker.Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.Security;

/// <summary>
/// Requires an authenticated principal (through the framework's authentication, <see cref="AgentApiAuthentication"/>)
/// on every route but the health checks and the static files of the web root — the chat and agents pages and their
/// scripts, which hold no data and are where a browser user enters a token or key. It runs before routing, so the
/// API, the OpenAPI document, the Orleans dashboard, <c>/</c> and any route added later are covered whatever order
/// they are mapped in; the Orleans dashboard is for the <see cref="AgentApiAuthentication.AdminRole"/> role only. With
/// no token settings and no key configured the Worker runs open: every caller is <see cref="LocalPrincipal"/>, an admin.
/// </summary>
internal sealed class AgentApiAccessMiddleware : IMiddleware
{
    /// <summary>The principal of every caller in the open local mode.</summary>
    public const string LocalPrincipal = "local";

    private static readonly ClaimsPrincipal Local = new(new ClaimsIdentity(
        [new Claim(ClaimTypes.NameIdentifier, LocalPrincipal), new Claim(ClaimTypes.Name, LocalPrincipal), new Claim(ClaimTypes.Role, AgentApiAuthentication.AdminRole)],
        "Local"));

    private readonly ILogger<AgentApiAccessMiddleware> _logger;
    private readonly IFileProvider _webRoot;

    public AgentApiAccessMiddleware(IOptions<AgentApiOptions> options, AgentApiAccessMode mode, ILogger<AgentApiAccessMiddleware> logger, IWebHostEnvironment environment)
    {
        IsOpen = !mode.Jwt && string.IsNullOrEmpty(options.Value.ApiKey) && options.Value.ApiKeys.Count == 0;
        _logger = logger;
        _webRoot = environment.WebRootFileProvider;
    }

    /// <summary>Whether the Worker runs open (no token settings, no key): for a developer's machine only.</summary>
    public bool IsOpen { get; }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (IsOpen)
        {
            context.User = Local;
            await next(context).ConfigureAwait(false);
            return;
        }

        if (IsPublic(context.Request))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var result = await context.AuthenticateAsync().ConfigureAwait(false);
        if (!result.Succeeded)
        {
            AgentApiLog.Unauthorized(_logger, context.Request.Method, AgentApiLog.Sanitize(context.Request.Path.Value ?? string.Empty), context.Connection.RemoteIpAddress?.ToString() ?? "unknown");
            context.Response.Headers.WWWAuthenticate = "Bearer";
            var answer = OpenAI.OpenAIErrors.IsOpenAIRequest(context.Request) ? OpenAI.OpenAIErrors.Unauthorized() : AgentApiProblems.Unauthorized();
            await answer.ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        context.User = result.Principal;
        if (IsDashboard(context.Request.Path) && !context.IsAdmin())
        {
            await AgentApiProblems.Problem(StatusCodes.Status403Forbidden, "Admins only", $"The Orleans dashboard is for the '{AgentApiAuthentication.AdminRole}' role.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
    }

    public static bool IsDashboard(PathString path) => path.StartsWithSegments("/dashboard", StringComparison.OrdinalIgnoreCase);

    /// <summary>Routes that stay open: liveness and readiness probes, and the files of the web root.</summary>
    private bool IsPublic(HttpRequest request)
    {
        var path = request.Path;
        return path.Equals("/health", StringComparison.OrdinalIgnoreCase)
            || path.Equals("/alive", StringComparison.OrdinalIgnoreCase)
            || ((HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)) && IsStaticFile(path));
    }

    private bool IsStaticFile(PathString path)
    {
        // "/agents/" is served as "/agents/index.html" by the default-files middleware.
        var file = path.Value is { } value && value.EndsWith('/') ? value + "index.html" : path.Value;
        return file is { Length: > 1 } && _webRoot.GetFileInfo(file) is { Exists: true, IsDirectory: false };
    }
}

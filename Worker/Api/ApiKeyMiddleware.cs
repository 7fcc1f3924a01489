using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.Api;

/// <summary>
/// Requires the configured API key (when one is set) on every route but the health checks and the static files of
/// the web root — the chat and agents pages and their scripts, which hold no data and are where a browser user
/// enters the key. It runs before routing, so the
/// API, the OpenAPI document, the Orleans dashboard, <c>/</c> and any route added later are covered whatever order
/// they are mapped in. The key may come as the <c>X-Api-Key</c> header, as <c>Authorization: Bearer …</c>, or as
/// the <c>agent_api_key</c> cookie, which the chat page sets because a browser's <c>EventSource</c> cannot send
/// headers. It is never accepted in the query string, where it would end up in logs, proxies and browser history.
/// </summary>
internal sealed class ApiKeyMiddleware : IMiddleware
{
    public const string HeaderName = "X-Api-Key";
    public const string CookieName = "agent_api_key";
    private readonly byte[]? _expectedHash;
    private readonly ILogger<ApiKeyMiddleware> _logger;
    private readonly IFileProvider _webRoot;

    public ApiKeyMiddleware(IOptions<AgentApiOptions> options, ILogger<ApiKeyMiddleware> logger, IWebHostEnvironment environment)
    {
        _expectedHash = string.IsNullOrEmpty(options.Value.ApiKey) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.ApiKey));
        _logger = logger;
        _webRoot = environment.WebRootFileProvider;
    }

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (_expectedHash is null || IsOpen(context.Request) || IsValid(Presented(context.Request)))
        {
            return next(context);
        }

        AgentApiLog.Unauthorized(_logger, context.Request.Method, AgentApiLog.Sanitize(context.Request.Path.Value ?? string.Empty), context.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        context.Response.Headers.WWWAuthenticate = "Bearer";
        var answer = OpenAI.OpenAIErrors.IsOpenAIRequest(context.Request) ? OpenAI.OpenAIErrors.Unauthorized() : AgentApiProblems.Unauthorized();
        return answer.ExecuteAsync(context);
    }

    /// <summary>Routes that stay open: liveness and readiness probes, and the files of the web root.</summary>
    private bool IsOpen(HttpRequest request)
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

    private static string? Presented(HttpRequest request)
    {
        if (request.Headers[HeaderName] is [{ Length: > 0 } header])
        {
            return header;
        }

        if (request.Headers.Authorization is [{ } authorization] && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return authorization["Bearer ".Length..].Trim();
        }

        return request.Cookies[CookieName];
    }

    private bool IsValid(string? presented)
    {
        if (string.IsNullOrEmpty(presented))
        {
            return false;
        }

        // Hashing first makes both sides the same length, so the comparison time says nothing about the key.
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(presented), hash);
        return CryptographicOperations.FixedTimeEquals(hash, _expectedHash);
    }
}

using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.Api;

/// <summary>
/// Requires the configured API key (when one is set) on every endpoint it is applied to. The key may come as the
/// <c>X-Api-Key</c> header, as <c>Authorization: Bearer …</c>, or as the <c>agent_api_key</c> cookie, which the chat
/// page sets because a browser's <c>EventSource</c> cannot send headers. It is never accepted in the query string,
/// where it would end up in logs, proxies and browser history.
/// </summary>
internal sealed class ApiKeyFilter : IEndpointFilter
{
    public const string HeaderName = "X-Api-Key";
    public const string CookieName = "agent_api_key";
    private readonly byte[]? _expectedHash;
    private readonly ILogger<ApiKeyFilter> _logger;

    public ApiKeyFilter(IOptions<AgentApiOptions> options, ILogger<ApiKeyFilter> logger)
    {
        _expectedHash = string.IsNullOrEmpty(options.Value.ApiKey) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.ApiKey));
        _logger = logger;
    }

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (_expectedHash is null || IsValid(Presented(context.HttpContext.Request)))
        {
            return next(context);
        }

        AgentApiLog.Unauthorized(_logger, context.HttpContext.Request.Method, context.HttpContext.Request.Path.Value ?? string.Empty, context.HttpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown");
        context.HttpContext.Response.Headers.WWWAuthenticate = "Bearer";
        return ValueTask.FromResult<object?>(AgentApiProblems.Unauthorized());
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

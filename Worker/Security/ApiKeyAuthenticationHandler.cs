using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using AgentStreaming.Worker.Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.Security;

/// <summary>
/// Authenticates the named API keys (<c>AgentApi:ApiKeys:&lt;principal&gt; = key</c>, each standing for its principal)
/// and the one-user key (<c>AgentApi:ApiKey</c>, principal <see cref="SingleKeyPrincipal"/>, an admin). The key may come
/// as the <c>X-Api-Key</c> header, as <c>Authorization: Bearer …</c> (as OpenAI SDKs send it), or as the
/// <c>agent_api_key</c> cookie, which the chat page sets because a browser's <c>EventSource</c> cannot send headers. It
/// is never accepted in the query string, where it would end up in logs, proxies and browser history.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler : AuthenticationHandler<AuthenticationSchemeOptions>
{
    public const string HeaderName = "X-Api-Key";
    public const string CookieName = "agent_api_key";

    /// <summary>The principal of the one-user key <c>AgentApi:ApiKey</c>.</summary>
    public const string SingleKeyPrincipal = "api-key";

    private readonly IOptionsMonitor<AgentApiOptions> _api;

    public ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, IOptionsMonitor<AgentApiOptions> api)
        : base(options, logger, encoder)
        => _api = api;

    /// <summary>The value of <c>Authorization: Bearer …</c>, if the request has one.</summary>
    public static string? BearerValue(HttpRequest request)
        => request.Headers.Authorization is [{ } authorization] && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? authorization["Bearer ".Length..].Trim()
            : null;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = Presented(Request);
        if (string.IsNullOrEmpty(presented))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var options = _api.CurrentValue;
        return Task.FromResult(Match(options, presented) is { } principal
            ? AuthenticateResult.Success(new AuthenticationTicket(Principal(principal, options), Scheme.Name))
            : AuthenticateResult.Fail("The API key is not valid."));
    }

    /// <summary>
    /// The principal whose key was presented. Every configured key is compared (in constant time, over hashes of the
    /// same length), so the time taken says neither whether nor which key matched.
    /// </summary>
    private static string? Match(AgentApiOptions options, string presented)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(presented), hash);
        string? match = null;
        foreach (var (principal, key) in Keys(options))
        {
            if (CryptographicOperations.FixedTimeEquals(hash, SHA256.HashData(Encoding.UTF8.GetBytes(key))))
            {
                match ??= principal;
            }
        }

        return match;
    }

    private static IEnumerable<(string Principal, string Key)> Keys(AgentApiOptions options)
    {
        if (!string.IsNullOrEmpty(options.ApiKey))
        {
            yield return (SingleKeyPrincipal, options.ApiKey);
        }

        foreach (var (principal, key) in options.ApiKeys)
        {
            if (!string.IsNullOrEmpty(key))
            {
                yield return (principal, key);
            }
        }
    }

    private ClaimsPrincipal Principal(string name, AgentApiOptions options)
    {
        List<Claim> claims = [new(ClaimTypes.NameIdentifier, name), new(ClaimTypes.Name, name)];
        if (name == SingleKeyPrincipal || options.Admins.Contains(name, StringComparer.Ordinal))
        {
            claims.Add(new Claim(ClaimTypes.Role, AgentApiAuthentication.AdminRole));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme.Name));
    }

    private static string? Presented(HttpRequest request)
    {
        if (request.Headers[HeaderName] is [{ Length: > 0 } header])
        {
            return header;
        }

        return BearerValue(request) ?? request.Cookies[CookieName];
    }
}

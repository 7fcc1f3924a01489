using AgentStreaming.DurableAgents.Client;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.Api;

/// <summary>Options of the HTTP agent API and the web chat. Bound from the <c>AgentApi</c> section.</summary>
public sealed class AgentApiOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "AgentApi";

    /// <summary>
    /// The one-user setup: when set, this key (at least 16 characters) stands for the principal <c>api-key</c>, an admin.
    /// Every route but <c>/health</c>, <c>/alive</c> and the pages' static files then requires a key or token, sent as
    /// the <c>X-Api-Key</c> header, as <c>Authorization: Bearer …</c>, or as the <c>agent_api_key</c> cookie (which
    /// the chat page sets, because <c>EventSource</c> cannot send headers). Compared in constant time. Default: none.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Named API keys for services and scripts: <c>AgentApi:ApiKeys:&lt;principal&gt; = key</c> (at least 16
    /// characters each), each standing for its principal, which owns the conversations it starts. Default: none.
    /// </summary>
    public IDictionary<string, string> ApiKeys { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Principals of named keys that have the <c>agents.admin</c> role (see every conversation, the dashboard). Default: none.</summary>
    public IList<string> Admins { get; } = [];

    /// <summary>The longest accepted message, in characters; longer ones get 413. Default 32,768.</summary>
    public int MaxMessageLength { get; set; } = 32_768;

    /// <summary>How often an idle stream response sends a comment line so proxies keep the connection. Default 15 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The reconnection delay suggested to SSE clients with the <c>retry:</c> field. Default 1 s.</summary>
    public TimeSpan RetryHint { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest a <c>Prefer: wait</c> request waits for the answer before it answers 202 instead. Default 120 s.</summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Runs one client (remote address) may start per <see cref="RateLimitWindow"/>. Default 30; 0 turns the limit off.</summary>
    public int RunsPerWindow { get; set; } = 30;

    /// <summary>
    /// Other requests (reads, streams, cancels, pages, the dashboard) one client may send per <see cref="RateLimitWindow"/>.
    /// Default 600; 0 turns the limit off. <c>/health</c> and <c>/alive</c> are never limited.
    /// </summary>
    public int RequestsPerWindow { get; set; } = 600;

    /// <summary>
    /// The <c>Retry-After</c> of a <c>503</c> answered while Redis or the workers cannot be reached. Default: the Redis
    /// failure policy's (<see cref="DurableAgentsFailures.RetryAfter"/>, 1 s).
    /// </summary>
    public TimeSpan UnavailableRetryAfter { get; set; } = DurableAgentsFailures.RetryAfter;

    /// <summary>The window of both rate limits. Default 1 minute.</summary>
    public TimeSpan RateLimitWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Origins allowed to call the API from other sites' pages (CORS). Default: none (CORS closed).</summary>
    public IList<string> CorsOrigins { get; } = [];
}

/// <summary>Validates <see cref="AgentApiOptions"/> when the host starts.</summary>
internal sealed class AgentApiOptionsValidator : IValidateOptions<AgentApiOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentApiOptions options)
    {
        var failures = new List<string>();
        if (options.ApiKey is { } key && key.Length is > 0 and < 16)
        {
            failures.Add("AgentApi:ApiKey must be at least 16 characters when set.");
        }

        foreach (var (principal, namedKey) in options.ApiKeys)
        {
            if ((namedKey?.Length ?? 0) < 16)
            {
                failures.Add($"AgentApi:ApiKeys:{principal} must be at least 16 characters.");
            }
        }

        if (options.ApiKeys.Values.Append(options.ApiKey).Where(k => !string.IsNullOrEmpty(k)).GroupBy(k => k, StringComparer.Ordinal).Any(g => g.Count() > 1))
        {
            failures.Add("AgentApi:ApiKeys must be different from each other and from AgentApi:ApiKey: a key stands for one principal.");
        }

        if (options.MaxMessageLength <= 0)
        {
            failures.Add("AgentApi:MaxMessageLength must be positive.");
        }

        if (options.HeartbeatInterval <= TimeSpan.Zero)
        {
            failures.Add("AgentApi:HeartbeatInterval must be positive.");
        }

        if (options.RetryHint < TimeSpan.Zero)
        {
            failures.Add("AgentApi:RetryHint must not be negative.");
        }

        if (options.MaxWait <= TimeSpan.Zero)
        {
            failures.Add("AgentApi:MaxWait must be positive.");
        }

        if (options.RunsPerWindow < 0 || options.RequestsPerWindow < 0 || options.RateLimitWindow <= TimeSpan.Zero)
        {
            failures.Add("AgentApi:RunsPerWindow and AgentApi:RequestsPerWindow must not be negative and AgentApi:RateLimitWindow must be positive.");
        }

        if (options.UnavailableRetryAfter <= TimeSpan.Zero)
        {
            failures.Add("AgentApi:UnavailableRetryAfter must be positive.");
        }


        foreach (var origin in options.CorsOrigins)
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/")
            {
                failures.Add($"AgentApi:CorsOrigins entries must be origins such as 'https://example.com' (was '{origin}').");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Worker.Api;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.OpenAI;

/// <summary>
/// Runs before every <c>/v1/responses</c> endpoint: while Redis is unreachable they answer <c>503</c> with
/// <c>Retry-After</c> at once, in OpenAI's error shape, instead of waiting for storage timeouts.
/// </summary>
internal sealed class OpenAIResponsesGuard : IEndpointFilter
{
    private readonly AgentApiOptions _options;
    private readonly DurableAgentClient _client;
    private readonly ILogger<OpenAIResponsesGuard> _logger;

    public OpenAIResponsesGuard(IOptions<AgentApiOptions> options, DurableAgentClient client, ILogger<OpenAIResponsesGuard> logger)
    {
        _options = options.Value;
        _client = client;
        _logger = logger;
    }

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (_client.IsAvailable)
        {
            return next(context);
        }

        var http = context.HttpContext;
        var errorId = AgentApiExceptionHandler.NewErrorId();
        AgentApiLog.RedisDisconnected(_logger, errorId, http.Request.Method, AgentApiLog.Sanitize(http.Request.Path.Value ?? string.Empty));
        return ValueTask.FromResult<object?>(OpenAIErrors.Unavailable(http, _options.UnavailableRetryAfter, errorId));
    }
}

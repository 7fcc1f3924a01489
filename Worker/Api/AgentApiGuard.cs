using AgentStreaming.DurableAgents.Options;
using Microsoft.Extensions.Options;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Worker.Api;

/// <summary>
/// Runs before every endpoint under <c>/agents/{agent}</c> and the agents page's <c>/agents/conversations</c>: an agent
/// no worker hosts answers <c>404 Unknown agent</c> (whatever the route), and while Redis is unreachable the API answers
/// <c>503</c> with <c>Retry-After</c> and an error id at once instead of waiting for storage timeouts.
/// </summary>
internal sealed class AgentApiGuard : IEndpointFilter
{
    private readonly DurableAgentsOptions _agents;
    private readonly AgentApiOptions _options;
    private readonly DurableAgentClient _client;
    private readonly ILogger<AgentApiGuard> _logger;

    public AgentApiGuard(IOptions<DurableAgentsOptions> agents, IOptions<AgentApiOptions> options, DurableAgentClient client, ILogger<AgentApiGuard> logger)
    {
        _agents = agents.Value;
        _options = options.Value;
        _client = client;
        _logger = logger;
    }

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (http.Request.RouteValues["agent"] is string agent && !_agents.Agents.ContainsKey(agent))
        {
            return ValueTask.FromResult<object?>(AgentApiEndpoints.UnknownAgent(agent, _agents));
        }

        if (!_client.IsAvailable)
        {
            var errorId = AgentApiExceptionHandler.NewErrorId();
            AgentApiLog.RedisDisconnected(_logger, errorId, http.Request.Method, AgentApiLog.Sanitize(http.Request.Path.Value ?? string.Empty));
            return ValueTask.FromResult<object?>(AgentApiProblems.Unavailable(http, _options.UnavailableRetryAfter, errorId));
        }

        return next(context);
    }
}

using System.Globalization;
using AgentStreaming.DurableAgents.Client;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.Api;

/// <summary>
/// Turns every exception a request did not handle into problem details: <c>503</c> with <c>Retry-After</c> when the
/// cause is Redis (or the durable runtime) being unreachable, <c>500</c> otherwise. The body carries a stable message
/// and an error id; the exception itself goes to the log only, under that id.
/// </summary>
internal sealed class AgentApiExceptionHandler : IExceptionHandler
{
    private readonly AgentApiOptions _options;
    private readonly ILogger<AgentApiExceptionHandler> _logger;

    public AgentApiExceptionHandler(IOptions<AgentApiOptions> options, ILogger<AgentApiExceptionHandler> logger)
    {
        _options = options.Value;
        _logger = logger;
    }

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client left; nobody reads an answer.
            return true;
        }

        var errorId = NewErrorId();
        var path = httpContext.Request.Path.Value ?? string.Empty;
        // The OpenAI-compatible routes answer in OpenAI's error shape, the others with problem details.
        var openAI = OpenAI.OpenAIErrors.IsOpenAIRequest(httpContext.Request);
        IResult problem;
        if (DurableAgentsFailures.IsUnavailable(exception))
        {
            AgentApiLog.RequestUnavailable(_logger, errorId, httpContext.Request.Method, AgentApiLog.Sanitize(path), exception);
            problem = openAI
                ? OpenAI.OpenAIErrors.Unavailable(httpContext, _options.UnavailableRetryAfter, errorId)
                : AgentApiProblems.Unavailable(httpContext, _options.UnavailableRetryAfter, errorId);
        }
        else
        {
            AgentApiLog.RequestFailed(_logger, errorId, httpContext.Request.Method, AgentApiLog.Sanitize(path), exception);
            problem = openAI ? OpenAI.OpenAIErrors.Internal(errorId) : AgentApiProblems.Internal(errorId);
        }

        if (httpContext.Response.HasStarted)
        {
            return false;
        }

        await problem.ExecuteAsync(httpContext).ConfigureAwait(false);
        return true;
    }

    /// <summary>A short id that ties an answer to its log entry.</summary>
    public static string NewErrorId() => Guid.NewGuid().ToString("N")[..16];

    internal static string Seconds(TimeSpan value) => ((int)Math.Max(1, Math.Ceiling(value.TotalSeconds))).ToString(CultureInfo.InvariantCulture);
}

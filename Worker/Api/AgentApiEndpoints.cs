using System.Globalization;
using System.Text;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.Worker.Api;
using AgentStreaming.Worker.Security;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the HTTP agent API.</summary>
/// <remarks>
/// <para>Routes (all under <c>/agents/{agent}</c>, the agent's name such as <c>TravelPlanner</c>):</para>
/// <list type="bullet">
/// <item><c>POST runs</c> — start a run (new conversation, or <c>conversationId</c> to continue one): <c>202</c> +
/// <c>Location</c>; with <c>Prefer: wait</c> the final answer (<c>200</c>); with <c>Accept: text/event-stream</c> or
/// <c>text/plain</c> the run is started and streamed in the same response.</item>
/// <item><c>GET runs/{runId}</c> — the run's state; <c>POST runs/{runId}/cancel</c> — cancel it.</item>
/// <item><c>GET runs/{runId}/stream</c> — SSE (default) or text/plain, resumable with <c>Last-Event-ID</c> or <c>?cursor=</c>.</item>
/// <item><c>GET conversations/{conversationId}</c> — history and runs.</item>
/// </list>
/// <para>The OpenAPI document is at <c>/openapi/v1.json</c>.</para>
/// </remarks>
public static class AgentApiEndpoints
{
    /// <summary>The name of the one OpenAPI document (<c>/openapi/v1.json</c>).</summary>
    private const string OpenApiDocumentName = "v1";

    /// <summary>Declares, for the OpenAPI document, that the route may answer problem details with each of <paramref name="statusCodes"/>.</summary>
    private static RouteHandlerBuilder ProducesProblems(this RouteHandlerBuilder builder, params int[] statusCodes)
    {
        foreach (var statusCode in statusCodes)
        {
            builder.ProducesProblem(statusCode);
        }

        return builder;
    }

    /// <summary>
    /// Maps the API's endpoints and the OpenAPI document. Its middleware (exception handler, CORS, rate limit, authentication) is added by
    /// <c>AddAgentApi</c> in front of the pipeline, so where this is called does not matter.
    /// </summary>
    /// <param name="app">The application.</param>
    /// <returns>The route group of the API (<c>/agents/{agent}</c>).</returns>
    public static RouteGroupBuilder MapAgentApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<AgentApiOptions>>().Value;
        var cors = options.CorsOrigins.Count > 0;

        // CORS, the rate limit, authentication and the exception handler are put in front of the pipeline by AddAgentApi.
        var api = app.MapGroup("/agents/{agent}")
            .AddEndpointFilter<AgentApiGuard>()
            .WithTags("Agents");
        if (cors)
        {
            api.RequireCors(AgentApiServiceCollectionExtensions.CorsPolicy);
        }

        api.MapPost("/runs", StartRunAsync)
            .WithName("StartRun")
            .WithSummary("Starts a run of the agent on a message (fire-and-forget, Prefer: wait, or start-and-stream).")
            .Accepts<StartRunRequest>("application/json", "text/plain")
            .Produces<RunView>(StatusCodes.Status202Accepted)
            .Produces<RunView>(StatusCodes.Status200OK)
            .Produces<string>(StatusCodes.Status200OK, "text/event-stream", "text/plain")
            .ProducesProblems(
                StatusCodes.Status400BadRequest,
                StatusCodes.Status401Unauthorized,
                StatusCodes.Status404NotFound,
                StatusCodes.Status413PayloadTooLarge,
                StatusCodes.Status415UnsupportedMediaType,
                StatusCodes.Status429TooManyRequests,
                StatusCodes.Status503ServiceUnavailable);

        api.MapGet("/runs/{runId}", GetRunAsync)
            .WithName("GetRun")
            .WithSummary("The run's state (and response once it ended).")
            .Produces<RunView>()
            .ProducesProblem(StatusCodes.Status404NotFound);

        api.MapGet("/runs/{runId}/stream", StreamRunAsync)
            .WithName("StreamRun")
            .WithSummary("Streams the run's response: SSE (id = entry id, event = entry type) or text/plain; resumes after Last-Event-ID or ?cursor=.")
            .Produces<string>(StatusCodes.Status200OK, "text/event-stream", "text/plain")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status410Gone, StatusCodes.Status503ServiceUnavailable);

        api.MapPost("/runs/{runId}/cancel", CancelRunAsync)
            .WithName("CancelRun")
            .WithSummary("Cancels the run: 202 when the cancellation was requested, 200 when it had already ended.")
            .Produces<RunView>(StatusCodes.Status202Accepted)
            .Produces<RunView>()
            .ProducesProblem(StatusCodes.Status404NotFound);

        api.MapGet("/conversations/{conversationId}", GetConversationAsync)
            .WithName("GetConversation")
            .WithSummary("The conversation's history and runs with their states.")
            .Produces<ConversationView>()
            .ProducesProblem(StatusCodes.Status404NotFound);

        var openApi = app.MapGroup(string.Empty);
        // The document endpoint answers a name it does not know (in the route or ?documentName=) itself, in text/plain
        // with the name echoed: answer it as every other unknown route is answered instead.
        openApi.MapOpenApi().AddEndpointFilter(static (context, next) =>
            context.Arguments.OfType<string>().FirstOrDefault() is { } name && !string.Equals(name, OpenApiDocumentName, StringComparison.OrdinalIgnoreCase)
                ? ValueTask.FromResult<object?>(AgentApiProblems.NotFound("Unknown OpenAPI document", $"The OpenAPI document is /openapi/{OpenApiDocumentName}.json."))
                : next(context));
        if (cors)
        {
            openApi.RequireCors(AgentApiServiceCollectionExtensions.CorsPolicy);
        }

        return api;
    }

    private static async Task<IResult> StartRunAsync(
        HttpContext context,
        string agent,
        DurableAgentClient client,
        RunStreamer streamer,
        IOptions<AgentApiOptions> apiOptions,
        IOptions<DurableAgentsOptions> agentOptions,
        ILogger<RunStreamer> logger)
    {
        var maxLength = Math.Min(apiOptions.Value.MaxMessageLength, agentOptions.Value.MaxMessageLength);
        var (request, problem) = await ReadRequestAsync(context, maxLength).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var message = request!.Message;
        if (string.IsNullOrWhiteSpace(message))
        {
            return AgentApiProblems.BadRequest("Empty message", "Send the message as JSON {\"message\": \"...\"} or as a text/plain body.");
        }

        if (message.Length > maxLength)
        {
            return AgentApiProblems.TooLarge($"The message has {message.Length} characters; the limit is {maxLength}.");
        }

        var proxy = client.GetAgent(agent);
        DurableAgentSession session;
        if (request.ConversationId is { Length: > 0 } conversationId)
        {
            if (!DurableAgentNames.IsValidId(conversationId))
            {
                return AgentApiProblems.BadRequest("Malformed conversation id", "A conversation id is 1 to 128 letters, digits, '-', '_' or '.', as returned when the conversation started.");
            }

            // Only conversations this API started can be continued: clients cannot pick (guessable) ids of their own.
            session = proxy.GetSession(conversationId);
            var snapshot = await proxy.GetConversationAsync(session).ConfigureAwait(false);
            if (!snapshot.Exists || !context.CanSee(snapshot.Owner))
            {
                return AgentApiProblems.NotFound("Unknown conversation", $"Agent '{agent}' has no conversation '{conversationId}'. Omit conversationId to start a new one.");
            }
        }
        else
        {
            session = proxy.NewSession();
        }

        var format = RunStreamWriter.Negotiate(context.Request, sseByDefault: false);
        var wait = format is null ? PreferredWait(context.Request, apiOptions.Value.MaxWait) : null;
        RunHandle started;
        try
        {
            started = await proxy.StartRunAsync(message, session, runId: null, foreground: false, context.Owner(), context.RequestAborted).ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            return AgentApiProblems.BadRequest("Run refused", ex.Message);
        }

        var runId = started.RunId;
        // The conversation grain recorded the run in the run index when it accepted it.
        var location = new RunLocation(agent, session.ConversationId);
        AgentApiDiagnostics.RunsStarted.Add(1);
        var mode = format switch
        {
            StreamFormat.ServerSentEvents => "start-and-stream (SSE)",
            StreamFormat.PlainText => "start-and-stream (text)",
            _ => wait is null ? "accepted" : "wait",
        };
        AgentApiLog.RunAccepted(logger, runId, agent, session.ConversationId, message.Length, mode);
        AgentApiLog.RunMessage(logger, runId, message);

        var accepted = RunView.From(agent, session.ConversationId, runId, started.Status);
        context.Response.Headers.Location = accepted.Links.Self;
        if (format is { } streamFormat)
        {
            await streamer.StreamAsync(context, streamFormat, runId, location, cursor: null, prelude: accepted).ConfigureAwait(false);
            return Results.Empty;
        }

        if (wait is { } timeout)
        {
            var finished = await WaitForEndAsync(client, runId, location, timeout, context.RequestAborted).ConfigureAwait(false);
            context.Response.Headers["Preference-Applied"] = "wait=" + ((int)timeout.TotalSeconds).ToString(CultureInfo.InvariantCulture);
            if (finished)
            {
                var run = await proxy.GetRunAsync(session, runId).ConfigureAwait(false);
                return Results.Json(RunView.From(agent, session.ConversationId, runId, run?.Status ?? RunStatus.Completed, run), AgentApiJson.Options, statusCode: StatusCodes.Status200OK);
            }
        }

        return Results.Json(accepted, AgentApiJson.Options, statusCode: StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> GetRunAsync(HttpContext context, string agent, string runId, DurableAgentClient client, CancellationToken cancellationToken)
    {
        if (await FindRunAsync(context, client, agent, runId, cancellationToken).ConfigureAwait(false) is not { } location)
        {
            return UnknownRun(agent, runId);
        }

        var proxy = client.GetAgent(agent);
        var run = await proxy.GetRunAsync(proxy.GetSession(location.ConversationId), runId).ConfigureAwait(false);
        return run is null
            ? UnknownRun(agent, runId)
            : Results.Json(RunView.From(agent, location.ConversationId, runId, run.Status, run), AgentApiJson.Options);
    }

    private static async Task<IResult> CancelRunAsync(HttpContext context, string agent, string runId, DurableAgentClient client, ILogger<RunStreamer> logger, CancellationToken cancellationToken)
    {
        if (await FindRunAsync(context, client, agent, runId, cancellationToken).ConfigureAwait(false) is not { } location)
        {
            return UnknownRun(agent, runId);
        }

        var proxy = client.GetAgent(agent);
        var run = await proxy.CancelAsync(proxy.GetSession(location.ConversationId), runId).ConfigureAwait(false);
        if (run is null)
        {
            return UnknownRun(agent, runId);
        }

        var view = RunView.From(agent, location.ConversationId, runId, run.Status, run);
        AgentApiLog.CancelRequested(logger, runId, view.Status);
        var endedBefore = run.Status.IsFinal() && !run.CancelRequested;
        return Results.Json(view, AgentApiJson.Options, statusCode: endedBefore ? StatusCodes.Status200OK : StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> GetConversationAsync(HttpContext context, string agent, string conversationId, DurableAgentClient client)
    {
        if (!DurableAgentNames.IsValidId(conversationId))
        {
            return AgentApiProblems.NotFound("Unknown conversation", "A conversation id is 1 to 128 letters, digits, '-', '_' or '.'.");
        }

        var proxy = client.GetAgent(agent);
        var snapshot = await proxy.GetConversationAsync(proxy.GetSession(conversationId)).ConfigureAwait(false);
        // Another principal's conversation is answered exactly as one that does not exist, so ids cannot be probed.
        return snapshot.Exists && context.CanSee(snapshot.Owner)
            ? Results.Json(ConversationView.From(snapshot), AgentApiJson.Options)
            : AgentApiProblems.NotFound("Unknown conversation", $"Agent '{agent}' has no conversation '{conversationId}'.");
    }

    private static async Task<IResult> StreamRunAsync(
        HttpContext context,
        string agent,
        string runId,
        string? cursor,
        RunStreamer streamer,
        DurableAgentClient client)
    {
        // On reconnection the browser sends Last-Event-ID, which is newer than the ?cursor= of the first connection.
        string? after = null;
        if (context.Request.Headers["Last-Event-ID"] is [{ Length: > 0 } lastEventId])
        {
            if (!DurableAgentClient.IsValidCursor(lastEventId))
            {
                return AgentApiProblems.BadRequest("Malformed Last-Event-ID", $"The Last-Event-ID header '{Clip(lastEventId)}' is not a stream entry id such as '1734649123456-0'.");
            }

            after = lastEventId;
        }
        else if (!string.IsNullOrEmpty(cursor))
        {
            if (!DurableAgentClient.IsValidCursor(cursor))
            {
                return AgentApiProblems.BadRequest("Malformed cursor", $"The cursor query parameter '{Clip(cursor)}' is not a stream entry id such as '1734649123456-0'; omit it to read from the start.");
            }

            after = cursor;
        }

        var opening = await client.OpenStreamAsync(agent, runId, after, context.RequestAborted).ConfigureAwait(false);
        if (!context.CanSee(opening.Location?.Owner))
        {
            // Another principal's run (or a stream without a run, which only admins read) is an unknown run.
            return UnknownRun(agent, runId);
        }

        switch (opening.Status)
        {
            case DurableRunStreamStatus.Unknown:
                return UnknownRun(agent, runId);
            case DurableRunStreamStatus.Gone:
                return AgentApiProblems.Gone(runId);
            case DurableRunStreamStatus.Ended:
                // Nothing follows the terminal entry; 204 also tells an EventSource to stop reconnecting.
                context.Response.Headers["X-Run-Id"] = runId;
                return Results.NoContent();
        }

        var format = RunStreamWriter.Negotiate(context.Request, sseByDefault: true)!.Value;
        await streamer.StreamAsync(context, format, runId, opening.Location, after).ConfigureAwait(false);
        return Results.Empty;
    }

    private static async Task<(StartRunRequest? Request, IResult? Problem)> ReadRequestAsync(HttpContext context, int maxLength)
    {
        // Worst case in JSON: six bytes per character (\uXXXX), plus room for the other fields.
        var maxBytes = ((long)maxLength * 6) + 4096;
        if (context.Request.ContentLength > maxBytes)
        {
            return (null, AgentApiProblems.TooLarge($"The request body has {context.Request.ContentLength} bytes; a message may have at most {maxLength} characters."));
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeLimit)
        {
            sizeLimit.MaxRequestBodySize = maxBytes;
        }

        // A charset the framework cannot decode would fail the read with an exception (a 500): refuse it as a 415.
        if (MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var mediaType) && mediaType.Charset.HasValue && mediaType.Encoding is null)
        {
            return (null, AgentApiProblems.Problem(
                StatusCodes.Status415UnsupportedMediaType,
                "Unsupported charset",
                $"The body's charset '{Clip(mediaType.Charset.ToString())}' is not one this server can decode. Send UTF-8 (charset=utf-8, or no charset)."));
        }

        try
        {
            if (context.Request.HasJsonContentType())
            {
                var body = await context.Request.ReadFromJsonAsync<StartRunRequest>(AgentApiJson.Options, context.RequestAborted).ConfigureAwait(false);
                return body is null
                    ? (null, AgentApiProblems.BadRequest("Missing body", "Send {\"message\": \"...\"}."))
                    : (body, null);
            }

            if (context.Request.ContentType is { } contentType && contentType.StartsWith("text/plain", StringComparison.OrdinalIgnoreCase))
            {
                using var reader = new StreamReader(context.Request.Body, mediaType?.Encoding ?? Encoding.UTF8);
                var text = await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
                return (new StartRunRequest(text, context.Request.Query["conversationId"].FirstOrDefault()), null);
            }

            return (null, AgentApiProblems.Problem(
                StatusCodes.Status415UnsupportedMediaType,
                "Unsupported body",
                "Send application/json {\"message\": \"...\", \"conversationId\": \"...\"} or a text/plain message (conversationId in the query)."));
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, AgentApiProblems.TooLarge($"The request body is over {maxBytes} bytes; a message may have at most {maxLength} characters."));
        }
        catch (System.Text.Json.JsonException ex)
        {
            // The parser's own message names .NET types and paths; the position is all a client needs.
            var where = ex.LineNumber is { } line ? string.Create(CultureInfo.InvariantCulture, $" (line {line + 1}, byte {ex.BytePositionInLine + 1})") : string.Empty;
            return (null, AgentApiProblems.BadRequest("Malformed JSON", $"The body is not valid JSON of the form {{\"message\": \"...\"}}{where}."));
        }
    }

    /// <summary>Parses <c>Prefer: wait</c> or <c>Prefer: wait=N</c> (RFC 7240): how long to wait for the answer.</summary>
    private static TimeSpan? PreferredWait(HttpRequest request, TimeSpan max)
    {
        foreach (var header in request.Headers["Prefer"])
        {
            foreach (var part in (header ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var preference = part.Split(';', 2)[0].Trim();
                if (preference.Equals("wait", StringComparison.OrdinalIgnoreCase))
                {
                    return max;
                }

                if (preference.StartsWith("wait=", StringComparison.OrdinalIgnoreCase)
                    && int.TryParse(preference.AsSpan(5).Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
                {
                    var wanted = TimeSpan.FromSeconds(seconds);
                    return wanted < max ? wanted : max;
                }
            }
        }

        return null;
    }

    private static async Task<bool> WaitForEndAsync(DurableAgentClient client, string runId, RunLocation location, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            // A run queued behind earlier runs of its conversation is waited for, within the same deadline.
            await foreach (var chunk in client.StreamAsync(runId, location, cancellationToken: deadline.Token).ConfigureAwait(false))
            {
                if (chunk.IsTerminal)
                {
                    return true;
                }
            }

            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception ex) when (ex is DurableRunExpiredException or DurableRunNotFoundException)
        {
            // The run's record says how it ended (or that it has not): the caller reads it.
            return true;
        }
    }

    /// <summary>The run's location when it is a run of <paramref name="agent"/> that the caller may see; otherwise <see langword="null"/>, as for a run that does not exist.</summary>
    private static async Task<RunLocation?> FindRunAsync(HttpContext context, DurableAgentClient client, string agent, string runId, CancellationToken cancellationToken)
        => await client.FindRunAsync(runId, cancellationToken).ConfigureAwait(false) is { } location && location.AgentName == agent && context.CanSee(location.Owner)
            ? location
            : null;

    private static IResult UnknownRun(string agent, string runId)
        => AgentApiProblems.NotFound("Unknown run", $"Agent '{Clip(agent)}' has no run '{Clip(runId)}'. Use the run id returned when the run was started.");

    internal static IResult UnknownAgent(string agent, DurableAgentsOptions options)
        => AgentApiProblems.NotFound("Unknown agent", $"No agent '{Clip(agent)}'. Agents: {string.Join(", ", options.Agents.Keys)}.");

    internal static string Clip(string value)
    {
        var clipped = value.Length > 64 ? value[..64] + "…" : value;
        return string.Concat(clipped.Select(c => char.IsControl(c) ? '?' : c));
    }
}

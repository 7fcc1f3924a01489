using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.Worker.Api;
using AgentStreaming.Worker.OpenAI;
using AgentStreaming.Worker.Security;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Builder;

/// <summary>
/// Maps OpenAI's Responses API (<c>/v1/responses</c>) over the durable runs: an adapter over
/// <see cref="DurableAgentClient"/>, so any OpenAI SDK starts, streams, resumes and cancels the agents' runs.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>POST /v1/responses</c> — <c>model</c> = the agent, <c>input</c> = user text; <c>previous_response_id</c>
/// continues that response's conversation; <c>background</c>, <c>stream</c>, both, or neither (wait for the end).</item>
/// <item><c>GET /v1/responses/{id}</c> — the response object; with <c>stream=true</c> its events from the first, or
/// strictly after <c>starting_after</c>.</item>
/// <item><c>POST /v1/responses/{id}/cancel</c> — the durable cancel (idempotent); <c>GET /v1/responses/{id}/input_items</c>.</item>
/// </list>
/// A response id is <c>resp_</c> + the run id. Errors take OpenAI's shape. The event mapping and its sequence numbers
/// are described on <see cref="ResponseEventMapper"/>.
/// </remarks>
public static class OpenAIResponsesEndpoints
{
    /// <summary>How long a cancel waits for the run's terminal entry before it answers with the run as it is.</summary>
    private static readonly TimeSpan CancelWait = TimeSpan.FromSeconds(10);

    /// <summary>How long reading a finished run's stream to build its response object may take.</summary>
    private static readonly TimeSpan FinishedReadWait = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Maps the routes under <c>/v1/responses</c>. The API's middleware (exception handler, rate limit, API key, CORS)
    /// covers them as every route (<c>AddAgentApi</c>); register the adapter's services with <c>AddOpenAIResponses</c>.
    /// </summary>
    /// <param name="app">The application.</param>
    /// <returns>The route group.</returns>
    public static RouteGroupBuilder MapOpenAIResponses(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<AgentApiOptions>>().Value;
        var group = app.MapGroup(OpenAIErrors.PathPrefix + "/responses")
            .AddEndpointFilter<OpenAIResponsesGuard>()
            .WithTags("OpenAI Responses");
        if (options.CorsOrigins.Count > 0)
        {
            group.RequireCors(AgentApiServiceCollectionExtensions.CorsPolicy);
        }

        group.MapPost(string.Empty, CreateAsync)
            .WithName("CreateResponse")
            .WithSummary("OpenAI Responses: starts a durable run of the agent named by 'model' (background, stream, both, or wait).");
        group.MapGet("/{responseId}", GetAsync)
            .WithName("GetResponse")
            .WithSummary("OpenAI Responses: the response object, or with stream=true its events (after starting_after).");
        group.MapPost("/{responseId}/cancel", CancelAsync)
            .WithName("CancelResponse")
            .WithSummary("OpenAI Responses: cancels the run durably (idempotent).");
        group.MapGet("/{responseId}/input_items", InputItemsAsync)
            .WithName("ListResponseInputItems")
            .WithSummary("OpenAI Responses: the user message the run answers.");
        // A run lives as long as its conversation, whose history the next turns use: it cannot be removed alone.
        group.MapDelete("/{responseId}", () => OpenAIErrors.Error(
                StatusCodes.Status405MethodNotAllowed,
                "Responses cannot be deleted: a response is a turn of its conversation, kept as long as the conversation (DurableAgents:ConversationTtl).",
                "invalid_request_error",
                "method_not_allowed",
                null))
            .WithName("DeleteResponse")
            .WithSummary("OpenAI Responses: not supported (405).");
        return group;
    }

    private static async Task<IResult> CreateAsync(
        HttpContext context,
        DurableAgentClient client,
        ResponseStreamer streamer,
        IOptions<AgentApiOptions> apiOptions,
        IOptions<DurableAgentsOptions> agentOptions,
        ILogger<ResponseStreamer> logger)
    {
        var aborted = context.RequestAborted;
        var maxLength = Math.Min(apiOptions.Value.MaxMessageLength, agentOptions.Value.MaxMessageLength);
        if (!context.Request.HasJsonContentType())
        {
            return OpenAIErrors.UnsupportedMediaType();
        }

        var maxBytes = ((long)maxLength * 6) + 16_384;
        if (context.Request.ContentLength > maxBytes)
        {
            return OpenAIErrors.TooLarge($"The request body has {context.Request.ContentLength} bytes; the input may have at most {maxLength} characters.");
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeLimit)
        {
            sizeLimit.MaxRequestBodySize = maxBytes;
        }

        CreateResponseRequest request;
        try
        {
            using var body = await JsonDocument.ParseAsync(context.Request.Body, default, aborted).ConfigureAwait(false);
            var (parsed, error) = CreateResponseRequest.Parse(body.RootElement);
            if (error is not null)
            {
                return error;
            }

            request = parsed!;
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return OpenAIErrors.TooLarge($"The request body is over {maxBytes} bytes; the input may have at most {maxLength} characters.");
        }
        catch (JsonException ex)
        {
            // The parser's own message names .NET types; the position is all a client needs.
            var where = ex.LineNumber is { } line ? string.Create(CultureInfo.InvariantCulture, $" (line {line + 1}, byte {ex.BytePositionInLine + 1})") : string.Empty;
            return OpenAIErrors.BadRequest($"The request body is not valid JSON{where}.");
        }

        if (!agentOptions.Value.Agents.ContainsKey(request.Model))
        {
            return OpenAIErrors.NotFound(
                $"The model '{AgentApiEndpoints.Clip(request.Model)}' does not exist. Models (the agents): {string.Join(", ", agentOptions.Value.Agents.Keys)}.",
                "model",
                "model_not_found");
        }

        if (request.Message.Length > maxLength)
        {
            return OpenAIErrors.TooLarge($"The input has {request.Message.Length} characters; the limit is {maxLength}.");
        }

        var proxy = client.GetAgent(request.Model);
        DurableAgentSession session;
        if (request.PreviousResponseId is { } previousId)
        {
            var previousRun = OpenAIResponseIds.ToRunId(previousId);
            var previous = previousRun is null ? null : await client.FindRunAsync(previousRun, aborted).ConfigureAwait(false);
            if (previous is not { } found || !context.CanSee(found.Owner))
            {
                return OpenAIErrors.NotFound($"Previous response with id '{AgentApiEndpoints.Clip(previousId)}' not found.", "previous_response_id");
            }

            if (!string.Equals(found.AgentName, request.Model, StringComparison.Ordinal))
            {
                return OpenAIErrors.BadRequest($"Previous response '{AgentApiEndpoints.Clip(previousId)}' belongs to model '{found.AgentName}'; continue it with that model.", "previous_response_id");
            }

            session = proxy.GetSession(found.ConversationId);
        }
        else
        {
            session = proxy.NewSession();
        }

        RunHandle started;
        try
        {
            // A foreground response is cancelled when its client leaves (below): the run says so, for GET to report it.
            started = await proxy.StartRunAsync(request.Message, session, runId: null, foreground: !request.Background, context.Owner(), aborted).ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            return OpenAIErrors.BadRequest(ex.Message, "input");
        }

        var runId = started.RunId;
        var location = new RunLocation(request.Model, session.ConversationId);
        AgentApiDiagnostics.RunsStarted.Add(1);
        var mode = Mode(request);
        AgentApiLog.RunAccepted(logger, runId, request.Model, session.ConversationId, request.Message.Length, mode);
        AgentApiLog.RunMessage(logger, runId, request.Message);

        var run = await proxy.GetRunAsync(session, runId).ConfigureAwait(false);
        var header = new ResponseHeader(runId, request.Model, run?.CreatedAt ?? DateTimeOffset.UtcNow, request.Background);
        context.Response.Headers["X-Conversation-Id"] = session.ConversationId;
        if (request.Stream)
        {
            var result = await streamer.StreamAsync(context, header, location, startingAfter: -1).ConfigureAwait(false);
            if (!request.Background && !result.Ended && aborted.IsCancellationRequested)
            {
                // As OpenAI does: a foreground response whose client left is cancelled.
                await CancelQuietlyAsync(proxy, session, runId, logger).ConfigureAwait(false);
            }

            return Results.Empty;
        }

        if (request.Background)
        {
            return Json(OpenAIResponseObjects.FromRun(header, run ?? new RunInfo { RunId = runId, Message = request.Message, Status = started.Status }));
        }

        // Neither: answer when the run has ended (or with its state at AgentApi:MaxWait, to poll from there).
        JsonObject final;
        bool ended;
        try
        {
            (final, ended) = await ReadToEndAsync(client, header, location, apiOptions.Value.MaxWait, aborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DurableRunExpiredException or DurableRunNotFoundException)
        {
            // The stream went while the run ran (the run then fails): its record says how it ended.
            var now = await proxy.GetRunAsync(session, runId).ConfigureAwait(false);
            (final, ended) = (OpenAIResponseObjects.FromRun(header, now ?? run ?? new RunInfo { RunId = runId, Message = request.Message, Status = RunStatus.Failed }), true);
        }

        if (!ended && aborted.IsCancellationRequested)
        {
            await CancelQuietlyAsync(proxy, session, runId, logger).ConfigureAwait(false);
            return Results.Empty;
        }

        return Json(final);
    }

    private static async Task<IResult> GetAsync(
        HttpContext context,
        string responseId,
        DurableAgentClient client,
        ResponseStreamer streamer,
        IOptions<DurableAgentsOptions> agentOptions,
        [FromQuery] string? stream,
        [FromQuery(Name = "starting_after")] string? startingAfter)
    {
        var aborted = context.RequestAborted;
        if (OpenAIResponseIds.ToRunId(responseId) is not { } runId)
        {
            return OpenAIErrors.UnknownResponse(responseId);
        }

        var location = await client.FindRunAsync(runId, aborted).ConfigureAwait(false);
        if (location is { } owned && !context.CanSee(owned.Owner))
        {
            // Another principal's response is answered exactly as one that does not exist.
            return OpenAIErrors.UnknownResponse(responseId);
        }

        if (!string.Equals(stream, "true", StringComparison.OrdinalIgnoreCase))
        {
            if (location is not { } known || await RunAsync(client, known, runId).ConfigureAwait(false) is not { } run)
            {
                return OpenAIErrors.UnknownResponse(responseId);
            }

            return Json(await ObjectAsync(client, ResponseHeader.Of(run, known.AgentName), known, run, run.Status.IsFinal() ? FinishedReadWait : TimeSpan.Zero, aborted).ConfigureAwait(false));
        }

        var after = -1;
        if (!string.IsNullOrEmpty(startingAfter)
            && (!int.TryParse(startingAfter, NumberStyles.None, CultureInfo.InvariantCulture, out after) || after < 0))
        {
            return OpenAIErrors.BadRequest($"'starting_after' must be a sequence_number (a non-negative integer), was '{AgentApiEndpoints.Clip(startingAfter)}'.", "starting_after");
        }

        // A stream written outside the runtime has no run record: it is served too, as the native API does.
        var agent = location?.AgentName ?? agentOptions.Value.Agents.Keys.First();
        var opening = await client.OpenStreamAsync(agent, runId, after: null, aborted).ConfigureAwait(false);
        if (!context.CanSee(opening.Location?.Owner))
        {
            // A stream without a run record has no owner: only admins read it.
            return OpenAIErrors.UnknownResponse(responseId);
        }

        switch (opening.Status)
        {
            case DurableRunStreamStatus.Unknown:
                return OpenAIErrors.UnknownResponse(responseId);
            case DurableRunStreamStatus.Gone:
                return OpenAIErrors.Gone(responseId);
        }

        ResponseHeader streamed;
        if (opening.Location is { } at && await RunAsync(client, at, runId).ConfigureAwait(false) is { } persisted)
        {
            streamed = ResponseHeader.Of(persisted, at.AgentName);
        }
        else
        {
            // No client of ours started it: nothing cancels it when a reader leaves.
            streamed = new ResponseHeader(runId, "unknown", DateTimeOffset.UnixEpoch, Background: true);
        }

        await streamer.StreamAsync(context, streamed, opening.Location, after).ConfigureAwait(false);
        return Results.Empty;
    }

    private static async Task<IResult> CancelAsync(HttpContext context, string responseId, DurableAgentClient client, ILogger<ResponseStreamer> logger)
    {
        var aborted = context.RequestAborted;
        if (OpenAIResponseIds.ToRunId(responseId) is not { } runId
            || await client.FindRunAsync(runId, aborted).ConfigureAwait(false) is not { } location
            || !context.CanSee(location.Owner))
        {
            return OpenAIErrors.UnknownResponse(responseId);
        }

        var proxy = client.GetAgent(location.AgentName);
        var session = proxy.GetSession(location.ConversationId);
        var run = await proxy.CancelAsync(session, runId).ConfigureAwait(false);
        if (run is null)
        {
            return OpenAIErrors.UnknownResponse(responseId);
        }

        var status = OpenAIResponseObjects.Status(run.Status);
        AgentApiLog.CancelRequested(logger, runId, status);
        var header = ResponseHeader.Of(run, location.AgentName);
        // The run stops promptly: answer with how it ended, as OpenAI answers a cancel with the cancelled response.
        return Json(await ObjectAsync(client, header, location, run, run.Status.IsFinal() ? FinishedReadWait : CancelWait, aborted).ConfigureAwait(false));
    }

    private static async Task<IResult> InputItemsAsync(HttpContext context, string responseId, DurableAgentClient client)
    {
        if (OpenAIResponseIds.ToRunId(responseId) is not { } runId
            || await client.FindRunAsync(runId, context.RequestAborted).ConfigureAwait(false) is not { } location
            || !context.CanSee(location.Owner)
            || await RunAsync(client, location, runId).ConfigureAwait(false) is not { } run)
        {
            return OpenAIErrors.UnknownResponse(responseId);
        }

        var id = "msg_in_" + runId;
        return Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray { OpenAIResponseObjects.InputMessage(id, run.Message) },
            ["first_id"] = id,
            ["last_id"] = id,
            ["has_more"] = false,
        });
    }

    /// <summary>
    /// The response object of a run: from its stream (the terminal event's response: output items, tool calls, usage)
    /// when the stream ends within <paramref name="wait"/>, else from the run's record. Without a wait, a live run's
    /// object holds the output so far (what its stream holds now).
    /// </summary>
    private static async Task<JsonObject> ObjectAsync(DurableAgentClient client, ResponseHeader header, RunLocation location, RunInfo run, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (wait == TimeSpan.Zero && run.Status == RunStatus.Running)
        {
            try
            {
                var mapper = new ResponseEventMapper(header);
                await foreach (var chunk in client.ReadStoredAsync(header.RunId, location, cancellationToken).ConfigureAwait(false))
                {
                    _ = mapper.Map(chunk);
                }

                return mapper.Snapshot();
            }
            catch (Exception ex) when (ex is DurableRunExpiredException or DurableRunNotFoundException)
            {
                // The events are gone; the record remains.
            }
        }

        if (wait > TimeSpan.Zero)
        {
            try
            {
                var (snapshot, ended) = await ReadToEndAsync(client, header, location, wait, cancellationToken).ConfigureAwait(false);
                if (ended)
                {
                    return snapshot;
                }
            }
            catch (Exception ex) when (ex is DurableRunExpiredException or DurableRunNotFoundException)
            {
                // The events are gone; the record remains.
            }

            run = await RunAsync(client, location, header.RunId).ConfigureAwait(false) ?? run;
        }

        return OpenAIResponseObjects.FromRun(header, run);
    }

    /// <summary>Maps the run's stream without sending it, until the terminal entry or <paramref name="wait"/>.</summary>
    private static async Task<(JsonObject Snapshot, bool Ended)> ReadToEndAsync(DurableAgentClient client, ResponseHeader header, RunLocation location, TimeSpan wait, CancellationToken cancellationToken)
    {
        var mapper = new ResponseEventMapper(header);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(wait);
        try
        {
            await foreach (var chunk in client.StreamAsync(header.RunId, location, cursor: null, deadline.Token).ConfigureAwait(false))
            {
                _ = mapper.Map(chunk);
                if (mapper.Ended)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            // Not ended within the wait (or the client left): the state so far.
        }

        return (mapper.Snapshot(), mapper.Ended);
    }

    private static Task<RunInfo?> RunAsync(DurableAgentClient client, RunLocation location, string runId)
    {
        var proxy = client.GetAgent(location.AgentName);
        return proxy.GetRunAsync(proxy.GetSession(location.ConversationId), runId);
    }

    private static async Task CancelQuietlyAsync(DurableAIAgentProxy proxy, DurableAgentSession session, string runId, ILogger logger)
    {
        try
        {
            var run = await proxy.CancelAsync(session, runId).ConfigureAwait(false);
            AgentApiLog.CancelRequested(logger, runId, run is null ? "unknown" : OpenAIResponseObjects.Status(run.Status));
        }
        catch (Exception ex) when (DurableAgentsFailures.IsUnavailable(ex))
        {
            AgentApiLog.StreamFailed(logger, runId, "the run of a client that left could not be cancelled", ex);
        }
    }

    private static string Mode(CreateResponseRequest request) => (request.Background, request.Stream) switch
    {
        (true, true) => "openai background+stream",
        (true, false) => "openai background",
        (false, true) => "openai stream",
        _ => "openai wait",
    };

    private static IResult Json(JsonObject value) => Results.Text(value.ToJsonString(), "application/json", System.Text.Encoding.UTF8);
}

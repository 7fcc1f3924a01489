namespace AgentStreaming.Worker.Api;

/// <summary>The API's error answers, as RFC 9457 problem details.</summary>
internal static class AgentApiProblems
{
    public static IResult BadRequest(string title, string detail) => Problem(StatusCodes.Status400BadRequest, title, detail);

    public static IResult Unauthorized() => Problem(
        StatusCodes.Status401Unauthorized,
        "Authentication required",
        $"Send a valid token or API key as 'Authorization: Bearer <token or key>', as the '{Security.ApiKeyAuthenticationHandler.HeaderName}' header, or as the '{Security.ApiKeyAuthenticationHandler.CookieName}' cookie. Tokens must be unexpired, signed by a configured key and issued for this API's audience.");

    public static IResult NotFound(string title, string detail) => Problem(StatusCodes.Status404NotFound, title, detail);

    public static IResult Gone(string runId) => Problem(
        StatusCodes.Status410Gone,
        "Run stream expired",
        $"Run '{runId}' existed, but its stream has expired (streams expire some minutes after their last entry). Its final state and response are still available from the run and conversation endpoints.");

    public static IResult TooLarge(string detail) => Problem(StatusCodes.Status413PayloadTooLarge, "Message too large", detail);

    /// <summary>
    /// <c>503</c> with <c>Retry-After</c>: Redis or the durable runtime cannot be reached. The detail is fixed; what
    /// failed is logged under <paramref name="errorId"/>.
    /// </summary>
    public static IResult Unavailable(HttpContext context, TimeSpan retryAfter, string errorId)
    {
        context.Response.Headers.RetryAfter = AgentApiExceptionHandler.Seconds(retryAfter);
        return Results.Problem(
            detail: $"The agents' storage cannot be reached right now. Try again in {AgentApiExceptionHandler.Seconds(retryAfter)} s.",
            statusCode: StatusCodes.Status503ServiceUnavailable,
            title: "Service unavailable",
            extensions: new Dictionary<string, object?> { ["errorId"] = errorId });
    }

    /// <summary><c>500</c>: an unexpected failure. The detail is fixed; the exception is logged under <paramref name="errorId"/>.</summary>
    public static IResult Internal(string errorId) => Results.Problem(
        detail: $"The request failed on the server. Quote error id {errorId} when you report it.",
        statusCode: StatusCodes.Status500InternalServerError,
        title: "Internal error",
        extensions: new Dictionary<string, object?> { ["errorId"] = errorId });

    public static IResult Problem(int status, string title, string detail)
        => Results.Problem(detail: detail, statusCode: status, title: title);
}

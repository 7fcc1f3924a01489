namespace AgentStreaming.Worker.Api;

/// <summary>The API's error answers, as RFC 9457 problem details.</summary>
internal static class AgentApiProblems
{
    public static IResult BadRequest(string title, string detail) => Problem(StatusCodes.Status400BadRequest, title, detail);

    public static IResult Unauthorized() => Problem(
        StatusCodes.Status401Unauthorized,
        "API key required",
        $"Send the API key as the '{ApiKeyFilter.HeaderName}' header, as 'Authorization: Bearer <key>', or as the '{ApiKeyFilter.CookieName}' cookie.");

    public static IResult NotFound(string title, string detail) => Problem(StatusCodes.Status404NotFound, title, detail);

    public static IResult Gone(string runId) => Problem(
        StatusCodes.Status410Gone,
        "Run stream expired",
        $"Run '{runId}' existed, but its stream has expired (streams expire some minutes after their last entry). Its final state and response are still available from the run and conversation endpoints.");

    public static IResult TooLarge(string detail) => Problem(StatusCodes.Status413PayloadTooLarge, "Message too large", detail);

    public static IResult Unavailable(string detail) => Problem(StatusCodes.Status503ServiceUnavailable, "Agents unavailable", detail);

    public static IResult Problem(int status, string title, string detail)
        => Results.Problem(detail: detail, statusCode: status, title: title);
}

using System.Text.Json.Nodes;
using AgentStreaming.Worker.Api;

namespace AgentStreaming.Worker.OpenAI;

/// <summary>
/// Error answers in OpenAI's shape, <c>{"error": {"message", "type", "code", "param"}}</c>, with the status codes of
/// the rest of the API. Messages never carry internal text: <c>503</c> and <c>500</c> say only what to do and an error id.
/// </summary>
internal static class OpenAIErrors
{
    /// <summary>The path prefix of the OpenAI-compatible routes.</summary>
    public const string PathPrefix = "/v1";

    /// <summary>Whether a request goes to the OpenAI-compatible routes (its errors then take OpenAI's shape).</summary>
    public static bool IsOpenAIRequest(HttpRequest request) => request.Path.StartsWithSegments(PathPrefix, StringComparison.OrdinalIgnoreCase);

    public static IResult BadRequest(string message, string? param = null, string? code = null)
        => Error(StatusCodes.Status400BadRequest, message, "invalid_request_error", code, param);

    public static IResult Unsupported(string message, string param)
        => Error(StatusCodes.Status400BadRequest, message, "invalid_request_error", "unsupported_parameter", param);

    public static IResult NotFound(string message, string? param = null, string code = "not_found")
        => Error(StatusCodes.Status404NotFound, message, "invalid_request_error", code, param);

    public static IResult UnknownResponse(string responseId)
        => NotFound($"Response with id '{AgentApiEndpoints.Clip(responseId)}' not found.", "response_id");

    public static IResult Gone(string responseId) => Error(
        StatusCodes.Status410Gone,
        $"The events of response '{AgentApiEndpoints.Clip(responseId)}' have expired (a run's stream is kept some minutes after its last event), so it cannot be streamed again. GET /v1/responses/{{id}} without stream=true still returns the response.",
        "invalid_request_error",
        "stream_expired",
        null);

    public static IResult TooLarge(string message) => Error(StatusCodes.Status413PayloadTooLarge, message, "invalid_request_error", "input_too_large", "input");

    public static IResult UnsupportedMediaType() => Error(
        StatusCodes.Status415UnsupportedMediaType,
        "Send the request body as application/json.",
        "invalid_request_error",
        "unsupported_media_type",
        null);

    public static IResult Unauthorized() => Error(
        StatusCodes.Status401Unauthorized,
        "Missing or wrong API key: send it as 'Authorization: Bearer <key>'.",
        "invalid_request_error",
        "invalid_api_key",
        null);

    public static IResult TooManyRequests(string message) => Error(StatusCodes.Status429TooManyRequests, message, "rate_limit_error", "rate_limit_exceeded", null);

    /// <summary><c>503</c> with <c>Retry-After</c>: Redis or the workers cannot be reached right now.</summary>
    public static IResult Unavailable(HttpContext context, TimeSpan retryAfter, string errorId)
    {
        context.Response.Headers.RetryAfter = AgentApiExceptionHandler.Seconds(retryAfter);
        return Error(
            StatusCodes.Status503ServiceUnavailable,
            $"The agents' storage cannot be reached right now. Try again in {AgentApiExceptionHandler.Seconds(retryAfter)} s (error id {errorId}).",
            "server_error",
            "service_unavailable",
            null);
    }

    /// <summary><c>500</c>: the exception is logged under <paramref name="errorId"/>.</summary>
    public static IResult Internal(string errorId) => Error(
        StatusCodes.Status500InternalServerError,
        $"The request failed on the server. Quote error id {errorId} when you report it.",
        "server_error",
        "internal_error",
        null);

    /// <summary>The <c>error</c> object alone, as an <c>error</c> streaming event carries it.</summary>
    public static JsonObject Body(string message, string type, string? code, string? param) => new()
    {
        ["error"] = new JsonObject
        {
            ["message"] = message,
            ["type"] = type,
            ["code"] = code,
            ["param"] = param,
        },
    };

    public static IResult Error(int status, string message, string type, string? code, string? param)
        => Results.Text(Body(message, type, code, param).ToJsonString(), "application/json", System.Text.Encoding.UTF8, status);
}

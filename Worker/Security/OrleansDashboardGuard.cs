using AgentStreaming.Worker.Api;

namespace AgentStreaming.Worker.Security;

/// <summary>
/// Stands in front of the Orleans dashboard's routes (served only when <c>OrleansDashboard:Enabled</c> is set, and to
/// admins only, <see cref="AgentApiAccessMiddleware"/>): its data routes fail on input they cannot parse with an
/// exception (a 500) or answer 200 with the exception's message (<c>GrainState</c>: "Value cannot be null"). Their
/// answers are buffered (they are small JSON documents) and such failures answered as <c>404</c> problem details, which
/// name no .NET type or message. The page itself and the live trace log (<c>/dashboard/Trace</c>) pass through.
/// </summary>
internal sealed class OrleansDashboardGuard : IMiddleware
{
    public const string Path = "/dashboard";

    // What the dashboard writes instead of a grain's state when it cannot read one: a JSON string holding {"error": …}.
    private static readonly byte[] ErrorMarker = "\\u0022error\\u0022"u8.ToArray();

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (!request.Path.StartsWithSegments(Path, out var rest) || rest.Value is null or "" or "/" || rest.StartsWithSegments("/Trace", StringComparison.OrdinalIgnoreCase)
            || rest.Value.Contains('.', StringComparison.Ordinal))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        bool failed;
        try
        {
            await next(context).ConfigureAwait(false);
            failed = context.Response.StatusCode >= StatusCodes.Status500InternalServerError
                || buffer.GetBuffer().AsSpan(0, (int)buffer.Length).IndexOf(ErrorMarker) is >= 0 and < 16;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            failed = true;
        }
        finally
        {
            context.Response.Body = original;
        }

        if (failed)
        {
            context.Response.Clear();
            await AgentApiProblems.NotFound("Unknown dashboard item", $"The Orleans dashboard has nothing at '{AgentApiLog.Sanitize(request.Path.Value ?? string.Empty)}'. Open {Path}/ and follow its links.").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(original, context.RequestAborted).ConfigureAwait(false);
    }
}

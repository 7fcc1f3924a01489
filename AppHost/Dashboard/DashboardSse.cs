using System.Text;
using System.Text.Json;

namespace AgentStreaming.AppHost.Dashboard;

/// <summary>Writes Server-Sent Events: every payload is one line of JSON, so framing never depends on user text.</summary>
internal sealed class DashboardSse
{
    private static readonly JsonSerializerOptions Json = CreateJson();
    private readonly HttpResponse _response;

    private DashboardSse(HttpResponse response) => _response = response;

    /// <summary>Starts an event stream (no buffering, no caching) and sends the reconnect hint.</summary>
    public static async Task<DashboardSse> StartAsync(HttpContext context, TimeSpan retry)
    {
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache, no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        var sse = new DashboardSse(response);
        await sse.WriteRawAsync($"retry: {(int)retry.TotalMilliseconds}\n\n", context.RequestAborted).ConfigureAwait(false);
        return sse;
    }

    /// <summary>Sends one event whose data is <paramref name="payload"/> as JSON.</summary>
    public Task SendAsync(string eventName, object payload, string? id, CancellationToken cancellationToken)
    {
        var builder = new StringBuilder();
        if (id is not null)
        {
            builder.Append("id: ").Append(Clean(id)).Append('\n');
        }

        builder.Append("event: ").Append(Clean(eventName)).Append('\n');
        // JSON escapes CR and LF inside strings, so the payload is a single data line.
        builder.Append("data: ").Append(JsonSerializer.Serialize(payload, Json)).Append("\n\n");
        return WriteRawAsync(builder.ToString(), cancellationToken);
    }

    /// <summary>Sends a comment that keeps proxies and the browser from timing the stream out.</summary>
    public Task HeartbeatAsync(CancellationToken cancellationToken) => WriteRawAsync(": heartbeat\n\n", cancellationToken);

    private async Task WriteRawAsync(string text, CancellationToken cancellationToken)
    {
        await _response.WriteAsync(text, cancellationToken).ConfigureAwait(false);
        await _response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static string Clean(string value) => value.Replace("\r", string.Empty, StringComparison.Ordinal).Replace("\n", string.Empty, StringComparison.Ordinal);

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        options.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
        return options;
    }
}

using System.IO.Compression;
using AgentStreaming.AppHost.Otlp.Proto.Collector.Logs;
using AgentStreaming.AppHost.Otlp.Proto.Collector.Metrics;
using AgentStreaming.AppHost.Otlp.Proto.Collector.Trace;
using Google.Protobuf;

namespace AgentStreaming.AppHost.Otlp;

/// <summary>
/// The OTLP/HTTP receiver (protobuf bodies, as the .NET OTLP exporter sends with <c>http/protobuf</c>):
/// <c>POST /v1/traces</c>, <c>/v1/logs</c>, <c>/v1/metrics</c>. Malformed bodies get 400, oversized ones 413, other
/// content types 415; each rejection is counted and leaves stored data untouched.
/// </summary>
public static class OtlpEndpoints
{
    /// <summary>Maps the receiver.</summary>
    /// <param name="app">The endpoints.</param>
    /// <returns>The endpoints.</returns>
    public static IEndpointRouteBuilder MapOtlpReceiver(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/traces", (HttpContext context, TelemetryStore store) =>
            ReceiveAsync(context, store, ExportTraceServiceRequest.Parser, r => store.Add(r), new ExportTraceServiceResponse()));
        app.MapPost("/v1/logs", (HttpContext context, TelemetryStore store) =>
            ReceiveAsync(context, store, ExportLogsServiceRequest.Parser, r => store.Add(r), new ExportLogsServiceResponse()));
        app.MapPost("/v1/metrics", (HttpContext context, TelemetryStore store) =>
            ReceiveAsync(context, store, ExportMetricsServiceRequest.Parser, r => store.Add(r), new ExportMetricsServiceResponse()));
        return app;
    }

    private static async Task<IResult> ReceiveAsync<TRequest>(HttpContext context, TelemetryStore store, MessageParser<TRequest> parser, Func<TRequest, int> add, IMessage response)
        where TRequest : IMessage<TRequest>
    {
        var contentType = context.Request.ContentType ?? string.Empty;
        if (!contentType.StartsWith("application/x-protobuf", StringComparison.OrdinalIgnoreCase))
        {
            store.CountRejected();
            return Results.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported content type",
                detail: "This receiver takes OTLP/HTTP with protobuf bodies (Content-Type: application/x-protobuf); set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf.");
        }

        var limit = store.Limits.MaxRequestBytes;
        if (context.Request.ContentLength > limit)
        {
            store.CountRejected();
            return TooLarge(limit);
        }

        byte[] body;
        try
        {
            body = await ReadBodyAsync(context, limit).ConfigureAwait(false);
        }
        catch (InvalidDataException)
        {
            store.CountRejected();
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed body", detail: "The gzip-encoded body could not be decompressed.");
        }

        if (body.Length > limit)
        {
            store.CountRejected();
            return TooLarge(limit);
        }

        TRequest request;
        try
        {
            request = parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException ex)
        {
            store.CountRejected();
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Malformed OTLP payload", detail: ex.Message);
        }

        add(request);
        return Results.Bytes(response.ToByteArray(), "application/x-protobuf");
    }

    private static IResult TooLarge(int limit)
        => Results.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Payload too large", detail: $"OTLP requests are limited to {limit} bytes.");

    private static async Task<byte[]> ReadBodyAsync(HttpContext context, int limit)
    {
        Stream source = context.Request.Body;
        if (string.Equals(context.Request.Headers.ContentEncoding, "gzip", StringComparison.OrdinalIgnoreCase))
        {
            source = new GZipStream(source, CompressionMode.Decompress);
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await source.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > limit)
            {
                break;
            }
        }

        return buffer.ToArray();
    }
}

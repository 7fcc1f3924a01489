using System.Globalization;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Worker.Api;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.OpenAI;

/// <summary>How a streamed response ended.</summary>
/// <param name="Ended">Whether the terminal event was sent (or skipped as already seen).</param>
/// <param name="LastSequenceNumber">The last <c>sequence_number</c> sent, or -1.</param>
internal readonly record struct ResponseStreamResult(bool Ended, int LastSequenceNumber);

/// <summary>
/// Writes a run as OpenAI Responses streaming events (<c>text/event-stream</c>, <c>event:</c> = the event's type,
/// <c>data:</c> = its JSON): read from the run's first entry, mapped by <see cref="ResponseEventMapper"/>, and only the
/// events after <c>starting_after</c> written. Live until the terminal event; a comment line every heartbeat interval
/// while idle (the SDKs' SSE parsers skip comments).
/// </summary>
internal sealed class ResponseStreamer
{
    private readonly DurableAgentClient _agents;
    private readonly AgentApiOptions _options;
    private readonly ILogger<ResponseStreamer> _logger;

    public ResponseStreamer(DurableAgentClient agents, IOptions<AgentApiOptions> options, ILogger<ResponseStreamer> logger)
    {
        _agents = agents;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Streams the run's events after <paramref name="startingAfter"/> until its terminal event or the client leaves.</summary>
    public async Task<ResponseStreamResult> StreamAsync(HttpContext context, ResponseHeader header, RunLocation? location, int startingAfter)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        response.Headers.CacheControl = "no-cache, no-transform";
        response.Headers["X-Accel-Buffering"] = "no";
        response.ContentType = "text/event-stream; charset=utf-8";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var sse = new SseWriter(response.BodyWriter);
        await response.StartAsync(aborted).ConfigureAwait(false);

        var mapper = new ResponseEventMapper(header);
        var last = -1;
        var events = 0;
        var reason = "terminal event";
        AgentApiLog.StreamOpened(_logger, header.RunId, "OpenAI SSE", startingAfter < 0 ? "(start)" : "sequence_number " + startingAfter.ToString(CultureInfo.InvariantCulture));
        AgentApiDiagnostics.ActiveStreams.Add(1);
        try
        {
            foreach (var e in mapper.Prelude())
            {
                Write(e);
            }

            await sse.FlushAsync(aborted).ConfigureAwait(false);
            var entries = _agents.StreamAsync(header.RunId, location, cursor: null, aborted).GetAsyncEnumerator(aborted);
            Task<bool>? pending = null;
            try
            {
                while (true)
                {
                    var next = entries.MoveNextAsync();
                    bool more;
                    if (next.IsCompleted)
                    {
                        more = await next.ConfigureAwait(false);
                    }
                    else
                    {
                        // Idle: a comment line every heartbeat interval. No token on the wait: the read itself stops
                        // when the client leaves.
                        pending = next.AsTask();
                        while (true)
                        {
                            try
                            {
                                more = await pending.WaitAsync(_options.HeartbeatInterval).ConfigureAwait(false);
                                break;
                            }
                            catch (TimeoutException)
                            {
                                sse.WriteComment("keep-alive");
                                await sse.FlushAsync(aborted).ConfigureAwait(false);
                            }
                        }

                        pending = null;
                    }

                    if (!more)
                    {
                        break;
                    }

                    var before = events;
                    foreach (var e in mapper.Map(entries.Current))
                    {
                        Write(e);
                    }

                    // Entries before the resume point only bring the mapper up to date: nothing to flush.
                    if (events != before)
                    {
                        await sse.FlushAsync(aborted).ConfigureAwait(false);
                    }

                    if (mapper.Ended)
                    {
                        break;
                    }
                }
            }
            finally
            {
                // A heartbeat that failed (the client left) may leave a read in flight: it ends with the request.
                if (pending is { IsCompleted: false })
                {
                    await ((Task)pending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }

                await entries.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            reason = "client left";
        }
        catch (Exception ex) when (ex is DurableRunExpiredException or DurableRunNotFoundException)
        {
            reason = "stream expired";
            AgentApiLog.StreamFailed(_logger, header.RunId, reason, ex);
            await WriteErrorAsync("stream_expired", "The response's events have expired while it was streamed; GET the response for its final state.").ConfigureAwait(false);
        }
        catch (DurableAgentsUnavailableException ex)
        {
            reason = "Redis unavailable";
            AgentApiLog.StreamFailed(_logger, header.RunId, reason, ex);
            await WriteErrorAsync("service_unavailable", string.Create(CultureInfo.InvariantCulture, $"The response's storage cannot be reached right now; resume later with starting_after={last}.")).ConfigureAwait(false);
        }
        finally
        {
            AgentApiDiagnostics.ActiveStreams.Add(-1);
            AgentApiLog.StreamEnded(_logger, header.RunId, events, reason);
        }

        return new ResponseStreamResult(mapper.Ended, last);

        void Write(in ResponseEvent e)
        {
            if (e.SequenceNumber <= startingAfter)
            {
                return;
            }

            sse.WriteEvent(null, e.Type, e.Payload.ToJsonString());
            last = e.SequenceNumber;
            events++;
            AgentApiDiagnostics.EventsSent.Add(1);
        }

        async Task WriteErrorAsync(string code, string message)
        {
            try
            {
                // OpenAI's stream error event: the SDKs raise it as an error. Its number follows the last one sent.
                var error = new System.Text.Json.Nodes.JsonObject
                {
                    ["type"] = "error",
                    ["code"] = code,
                    ["message"] = message,
                    ["param"] = null,
                    ["sequence_number"] = Math.Max(last, startingAfter) + 1,
                };
                sse.WriteEvent(null, "error", error.ToJsonString());
                await sse.FlushAsync(aborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The client left.
            }
        }
    }
}

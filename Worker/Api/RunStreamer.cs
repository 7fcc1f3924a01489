using AgentStreaming.DurableAgents.Recovery;
using System.Text;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AgentStreaming.Worker.Api;

/// <summary>How a stream response is written.</summary>
internal enum StreamFormat
{
    /// <summary><c>text/event-stream</c>: one event per entry, resumable with <c>Last-Event-ID</c>.</summary>
    ServerSentEvents,

    /// <summary><c>text/plain</c>: the answer text only, for <c>curl -N</c>.</summary>
    PlainText,
}

/// <summary>Writes a run's stream as an HTTP response: SSE or plain text, live until the terminal entry.</summary>
internal sealed class RunStreamer
{
    private readonly IAgentStreamReader _reader;
    private readonly RedisStreamResponseHandler _streams;
    private readonly IConnectionMultiplexer _redis;
    private readonly DurableAgentClient _agents;
    private readonly StreamFaults _faults;
    private readonly AgentApiOptions _options;
    private readonly ILogger<RunStreamer> _logger;

    public RunStreamer(
        IAgentStreamReader reader,
        RedisStreamResponseHandler streams,
        IConnectionMultiplexer redis,
        DurableAgentClient agents,
        StreamFaults faults,
        IOptions<AgentApiOptions> options,
        ILogger<RunStreamer> logger)
    {
        _reader = reader;
        _streams = streams;
        _redis = redis;
        _agents = agents;
        _faults = faults;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Picks the format from the <c>Accept</c> header: <c>text/plain</c> only when asked for without <c>text/event-stream</c>.</summary>
    public static StreamFormat? Negotiate(HttpRequest request, bool sseByDefault)
    {
        var accept = request.GetTypedHeaders().Accept;
        if (accept.Any(a => a.MediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase)))
        {
            return StreamFormat.ServerSentEvents;
        }

        if (accept.Any(a => a.MediaType.Equals("text/plain", StringComparison.OrdinalIgnoreCase)))
        {
            return StreamFormat.PlainText;
        }

        return sseByDefault ? StreamFormat.ServerSentEvents : null;
    }

    /// <summary>Whether the stream's terminal entry is at or before <paramref name="cursor"/> (nothing more will come). Uses <see cref="IAgentStreamReader.GetStateAsync"/>.</summary>
    public async Task<bool> EndedAtOrBeforeAsync(string runId, StreamCursor cursor)
        => (await _reader.GetStateAsync(runId).ConfigureAwait(false)).TerminalAt is { } t && t <= cursor;

    /// <summary>Streams a run into the response until its terminal entry, the client leaves, or the stream expires.</summary>
    /// <param name="context">The request.</param>
    /// <param name="format">SSE or plain text.</param>
    /// <param name="runId">The run.</param>
    /// <param name="location">The run's agent and conversation, when the API accepted it.</param>
    /// <param name="cursor">The last entry id the client has, or <see langword="null"/>.</param>
    /// <param name="prelude">For start-and-stream: the accepted run, sent first as an <c>event: run</c> (SSE only).</param>
    public async Task StreamAsync(HttpContext context, StreamFormat format, string runId, RunLocation? location, string? cursor, RunView? prelude = null)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        response.Headers.CacheControl = "no-cache, no-transform";
        response.Headers["X-Accel-Buffering"] = "no";
        response.Headers["X-Run-Id"] = runId;
        if (location is { } known)
        {
            response.Headers["X-Conversation-Id"] = known.ConversationId;
        }

        response.ContentType = format == StreamFormat.ServerSentEvents ? "text/event-stream; charset=utf-8" : "text/plain; charset=utf-8";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var sse = new SseWriter(response.BodyWriter);
        if (format == StreamFormat.ServerSentEvents)
        {
            sse.WriteRetry(_options.RetryHint);
            if (prelude is not null)
            {
                sse.WriteEvent(null, "run", System.Text.Json.JsonSerializer.Serialize(prelude, AgentApiJson.Options));
            }
            else
            {
                sse.WriteComment("stream " + runId);
            }
        }

        await response.StartAsync(aborted).ConfigureAwait(false);
        await sse.FlushAsync(aborted).ConfigureAwait(false);

        var abortAfter = _faults.Take();
        var events = 0;
        var reason = "terminal entry";
        AgentApiLog.StreamOpened(_logger, runId, format == StreamFormat.ServerSentEvents ? "SSE" : "text", cursor ?? "(start)");
        AgentApiDiagnostics.ActiveStreams.Add(1);
        try
        {
            while (true)
            {
                try
                {
                    await foreach (var chunk in ReadWithHeartbeatsAsync(runId, cursor, format == StreamFormat.ServerSentEvents ? sse : null, aborted).ConfigureAwait(false))
                    {
                        cursor = chunk.Chunk.EntryId;
                        Write(sse, response.BodyWriter, format, chunk.Chunk);
                        events++;
                        AgentApiDiagnostics.EventsSent.Add(1);
                        if (abortAfter > 0 && events >= abortAfter)
                        {
                            await sse.FlushAsync(aborted).ConfigureAwait(false);
                            AgentApiLog.FaultInjected(_logger, runId, events);
                            reason = "fault injection";
                            context.Abort();
                            return;
                        }

                        if (chunk.Chunk.IsTerminal || !chunk.MoreReady)
                        {
                            await sse.FlushAsync(aborted).ConfigureAwait(false);
                        }
                    }

                    return;
                }
                catch (AgentStreamNotFoundException ex) when (!ex.ExpiredWhileReading && location is not null)
                {
                    // A queued run waits behind earlier runs of its conversation: its stream does not exist yet. Keep waiting.
                    if (await HasEndedAsync(runId, location.Value).ConfigureAwait(false))
                    {
                        throw;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            reason = "client left";
        }
        catch (AgentStreamNotFoundException ex)
        {
            reason = "stream expired";
            AgentApiLog.StreamFailed(_logger, runId, reason, ex);
            await WriteEndAsync(sse, response.BodyWriter, format, "expired", "The run's stream has expired or was removed.", aborted).ConfigureAwait(false);
        }
        catch (AgentStreamUnavailableException ex)
        {
            // The client reconnects (SSE) or resumes with ?cursor= once Redis is back.
            reason = "Redis unavailable";
            AgentApiLog.StreamFailed(_logger, runId, reason, ex);
            await WriteEndAsync(sse, response.BodyWriter, format, "unavailable", "The stream's storage cannot be reached right now; reconnect with the last event id.", aborted).ConfigureAwait(false);
        }
        finally
        {
            AgentApiDiagnostics.ActiveStreams.Add(-1);
            AgentApiLog.StreamEnded(_logger, runId, events, reason);
        }
    }

    private async Task<bool> HasEndedAsync(string runId, RunLocation location)
    {
        var agent = _agents.GetAgent(location.AgentName);
        var run = await agent.GetRunAsync(agent.GetSession(location.ConversationId), runId).ConfigureAwait(false);
        return run is null || run.Status.IsFinal();
    }

    private static async Task WriteEndAsync(SseWriter sse, System.IO.Pipelines.PipeWriter body, StreamFormat format, string eventType, string message, CancellationToken cancellationToken)
    {
        try
        {
            if (format == StreamFormat.ServerSentEvents)
            {
                sse.WriteEvent(null, eventType, message);
            }
            else
            {
                Encoding.UTF8.GetBytes("\n[" + eventType + ": " + message + "]\n", body);
            }

            await sse.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The client left.
        }
    }

    private static void Write(SseWriter sse, System.IO.Pipelines.PipeWriter body, StreamFormat format, StreamChunk chunk)
    {
        if (format == StreamFormat.ServerSentEvents)
        {
            sse.WriteEvent(chunk.EntryId, chunk.Kind.ToWireName(), EventData(chunk));
            return;
        }

        var text = chunk.Kind switch
        {
            StreamEntryKind.Text => chunk.Text,
            StreamEntryKind.Reset => $"\n\n[retrying: attempt {chunk.Attempt}]\n\n",
            StreamEntryKind.Error => $"\n[error: {chunk.Error}]\n",
            StreamEntryKind.Cancelled => $"\n[cancelled: {chunk.Error}]\n",
            _ => string.Empty,
        };
        if (text.Length > 0)
        {
            Encoding.UTF8.GetBytes(text, body);
        }
    }

    /// <summary>The <c>data:</c> of an event: the text of text entries, the JSON of tool calls, results and usage, the message of error and cancelled entries.</summary>
    internal static string EventData(StreamChunk chunk) => chunk.Kind switch
    {
        StreamEntryKind.Text => chunk.Text,
        StreamEntryKind.Error or StreamEntryKind.Cancelled => chunk.Error ?? string.Empty,
        StreamEntryKind.Reset => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{{\"attempt\":{chunk.Attempt}}}"),
        _ => chunk.Data ?? chunk.Text,
    };

    /// <summary>Reads the stream, writing a comment line whenever it was idle for the heartbeat interval.</summary>
    /// <remarks>The next entry is fetched ahead, so the caller can flush only when no further entry is ready.</remarks>
    private async IAsyncEnumerable<(StreamChunk Chunk, bool MoreReady)> ReadWithHeartbeatsAsync(
        string runId, string? cursor, SseWriter? heartbeats, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var enumerator = _reader.ReadStreamAsync(runId, cursor, stop.Token).GetAsyncEnumerator(stop.Token);
        var next = Task.FromResult(false);
        try
        {
            next = enumerator.MoveNextAsync().AsTask();
            while (true)
            {
                bool has;
                if (next.IsCompleted || heartbeats is null)
                {
                    has = await next.ConfigureAwait(false);
                }
                else
                {
                    while (true)
                    {
                        try
                        {
                            has = await next.WaitAsync(_options.HeartbeatInterval, cancellationToken).ConfigureAwait(false);
                            break;
                        }
                        catch (TimeoutException)
                        {
                            heartbeats.WriteComment("heartbeat");
                            await heartbeats.FlushAsync(cancellationToken).ConfigureAwait(false);
                        }
                    }
                }

                if (!has)
                {
                    yield break;
                }

                var chunk = enumerator.Current;
                next = chunk.IsTerminal ? Task.FromResult(false) : enumerator.MoveNextAsync().AsTask();
                yield return (chunk, next.IsCompleted);
            }
        }
        finally
        {
            // A read may be in flight (the next entry is fetched ahead): stop it before disposing the reader.
            if (!next.IsCompleted)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                await ((Task)next).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await enumerator.DisposeAsync().ConfigureAwait(false);
        }
    }
}

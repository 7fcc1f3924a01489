using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.Api;

/// <summary>
/// Writes a run's stream as an HTTP response, live until the terminal entry: one stream source
/// (<see cref="DurableAgentClient.StreamAsync(string, RunLocation?, string?, CancellationToken)"/>), written in the
/// negotiated format (<see cref="RunStreamWriter"/>).
/// </summary>
internal sealed class RunStreamer(DurableAgentClient agents, IOptions<AgentApiOptions> options, ILogger<RunStreamer> logger)
{
    private readonly DurableAgentClient _agents = agents;
    private readonly AgentApiOptions _options = options.Value;
    private readonly ILogger<RunStreamer> _logger = logger;

    /// <summary>Streams a run into the response until its terminal entry, the client leaves, or the stream expires.</summary>
    /// <param name="context">The request.</param>
    /// <param name="format">SSE or plain text.</param>
    /// <param name="runId">The run.</param>
    /// <param name="location">The run's agent and conversation, when the run index knows it (a queued run is then waited for).</param>
    /// <param name="cursor">The last entry id the client has, or <see langword="null"/>.</param>
    /// <param name="prelude">For start-and-stream: the accepted run, sent first as an <c>event: run</c> (SSE only).</param>
    public async Task StreamAsync(HttpContext context, StreamFormat format, string runId, RunLocation? location, string? cursor, RunView? prelude = null)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        var writer = RunStreamWriter.Create(format, response.BodyWriter);
        response.Headers.CacheControl = "no-cache, no-transform";
        response.Headers["X-Accel-Buffering"] = "no";
        response.Headers["X-Run-Id"] = runId;
        if (location is { } known)
        {
            response.Headers["X-Conversation-Id"] = known.ConversationId;
        }

        response.ContentType = writer.ContentType;
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        writer.WriteStart(runId, prelude, _options.RetryHint);
        await response.StartAsync(aborted).ConfigureAwait(false);
        await writer.FlushAsync(aborted).ConfigureAwait(false);

        var events = 0;
        var reason = "terminal entry";
        AgentApiLog.StreamOpened(_logger, runId, writer.Name, cursor ?? "(start)");
        AgentApiDiagnostics.ActiveStreams.Add(1);
        // The reader would ride a Redis outage out for its reconnect deadline, silent meanwhile; this client can be
        // told at once, and resumes after the last entry it received (Last-Event-ID), with no gap and no duplicate.
        var unavailable = _agents.UnavailableToken;
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(aborted, unavailable);
        try
        {
            await foreach (var (chunk, moreReady) in ReadWithHeartbeatsAsync(_agents.StreamAsync(runId, location, cursor, reading.Token), writer, reading.Token).ConfigureAwait(false))
            {
                writer.Write(chunk);
                events++;
                AgentApiDiagnostics.EventsSent.Add(1);
                if (chunk.IsTerminal || !moreReady)
                {
                    await writer.FlushAsync(aborted).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            reason = "client left";
        }
        catch (Exception ex) when (ex is DurableRunExpiredException or DurableRunNotFoundException)
        {
            reason = "stream expired";
            AgentApiLog.StreamFailed(_logger, runId, reason, ex);
            await WriteEndAsync(writer, "expired", "The run's stream has expired or was removed.", aborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DurableAgentsUnavailableException || (ex is OperationCanceledException && unavailable.IsCancellationRequested))
        {
            // The client reconnects (SSE) or resumes with ?cursor= once Redis is back.
            reason = "Redis unavailable";
            AgentApiLog.StreamFailed(_logger, runId, reason, ex);
            await WriteEndAsync(writer, "unavailable", "The stream's storage cannot be reached right now; reconnect with the last event id.", aborted).ConfigureAwait(false);
        }
        finally
        {
            AgentApiDiagnostics.ActiveStreams.Add(-1);
            AgentApiLog.StreamEnded(_logger, runId, events, reason);
        }
    }

    private static async Task WriteEndAsync(RunStreamWriter writer, string reason, string message, CancellationToken cancellationToken)
    {
        try
        {
            writer.WriteEnd(reason, message);
            await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The client left.
        }
    }

    /// <summary>Reads the stream, writing a heartbeat whenever it was idle for the heartbeat interval.</summary>
    /// <remarks>The next entry is fetched ahead, so the caller can flush only when no further entry is ready.</remarks>
    private async IAsyncEnumerable<(DurableRunChunk Chunk, bool MoreReady)> ReadWithHeartbeatsAsync(
        IAsyncEnumerable<DurableRunChunk> source, RunStreamWriter heartbeats, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var enumerator = source.GetAsyncEnumerator(stop.Token);
        var next = Task.FromResult(false);
        try
        {
            next = enumerator.MoveNextAsync().AsTask();
            while (true)
            {
                bool has;
                if (next.IsCompleted || !heartbeats.HasHeartbeats)
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
                            heartbeats.WriteHeartbeat();
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

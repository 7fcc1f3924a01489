using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Worker.Api;

/// <summary>How a stream response is written.</summary>
internal enum StreamFormat
{
    /// <summary><c>text/event-stream</c>: one event per entry, resumable with <c>Last-Event-ID</c>.</summary>
    ServerSentEvents,

    /// <summary><c>text/plain</c>: the answer text only, for <c>curl -N</c>.</summary>
    PlainText,
}

/// <summary>One format of a run's stream response: what it writes first, per entry, at the end, and while idle.</summary>
internal abstract class RunStreamWriter
{
    protected RunStreamWriter(PipeWriter body) => Body = body;

    /// <summary>The response's <c>Content-Type</c>.</summary>
    public abstract string ContentType { get; }

    /// <summary>The format's name in logs.</summary>
    public abstract string Name { get; }

    protected PipeWriter Body { get; }

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

    public static RunStreamWriter Create(StreamFormat format, PipeWriter body) => format switch
    {
        StreamFormat.ServerSentEvents => new ServerSentEventsWriter(body),
        _ => new PlainTextWriter(body),
    };

    /// <summary>Writes what comes before the first entry.</summary>
    /// <param name="runId">The run.</param>
    /// <param name="prelude">For start-and-stream: the accepted run.</param>
    /// <param name="retryHint">How long an SSE client waits before it reconnects.</param>
    public virtual void WriteStart(string runId, RunView? prelude, TimeSpan retryHint)
    {
    }

    /// <summary>Writes one entry.</summary>
    public abstract void Write(in DurableRunChunk chunk);

    /// <summary>Writes why the stream ends without a terminal entry (<c>expired</c>, <c>unavailable</c>).</summary>
    public abstract void WriteEnd(string reason, string message);

    /// <summary>Whether the format has a keep-alive that clients ignore (<see cref="WriteHeartbeat"/>).</summary>
    public virtual bool HasHeartbeats => false;

    /// <summary>Writes a keep-alive.</summary>
    public virtual void WriteHeartbeat() => throw new NotSupportedException($"The {Name} format has no heartbeats.");

    /// <summary>Sends what was written.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken) => await Body.FlushAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>The <c>data:</c> of an event: the text of text entries, the JSON of tool calls, results and usage, the message of error and cancelled entries.</summary>
    internal static string EventData(in DurableRunChunk chunk) => chunk.Kind switch
    {
        DurableRunChunkKind.Text => chunk.Text,
        DurableRunChunkKind.Error or DurableRunChunkKind.Cancelled => chunk.Error ?? string.Empty,
        DurableRunChunkKind.Reset => string.Create(CultureInfo.InvariantCulture, $"{{\"attempt\":{chunk.Attempt}}}"),
        _ => chunk.Data ?? chunk.Text,
    };

    /// <summary>SSE: the entry's cursor as <c>id:</c>, its type as <c>event:</c>, <see cref="EventData"/> as <c>data:</c>.</summary>
    private sealed class ServerSentEventsWriter(PipeWriter body) : RunStreamWriter(body)
    {
        private readonly SseWriter _sse = new(body);

        public override string ContentType => "text/event-stream; charset=utf-8";

        public override string Name => "SSE";

        public override void WriteStart(string runId, RunView? prelude, TimeSpan retryHint)
        {
            _sse.WriteRetry(retryHint);
            if (prelude is not null)
            {
                _sse.WriteEvent(null, "run", JsonSerializer.Serialize(prelude, AgentApiJson.Options));
            }
            else
            {
                _sse.WriteComment("stream " + runId);
            }
        }

        public override void Write(in DurableRunChunk chunk) => _sse.WriteEvent(chunk.Cursor, chunk.TypeName, EventData(chunk));

        public override void WriteEnd(string reason, string message) => _sse.WriteEvent(null, reason, message);

        public override bool HasHeartbeats => true;

        public override void WriteHeartbeat() => _sse.WriteComment("heartbeat");
    }

    /// <summary>Plain text: the answer's text, with resets, errors and cancellations as bracketed lines.</summary>
    private sealed class PlainTextWriter(PipeWriter body) : RunStreamWriter(body)
    {
        public override string ContentType => "text/plain; charset=utf-8";

        public override string Name => "text";

        public override void Write(in DurableRunChunk chunk)
        {
            var text = chunk.Kind switch
            {
                DurableRunChunkKind.Text => chunk.Text,
                DurableRunChunkKind.Reset => $"\n\n[retrying: attempt {chunk.Attempt}]\n\n",
                DurableRunChunkKind.Error => $"\n[error: {chunk.Error}]\n",
                DurableRunChunkKind.Cancelled => $"\n[cancelled: {chunk.Error}]\n",
                _ => string.Empty,
            };
            if (text.Length > 0)
            {
                Encoding.UTF8.GetBytes(text, Body);
            }
        }

        public override void WriteEnd(string reason, string message) => Encoding.UTF8.GetBytes("\n[" + reason + ": " + message + "]\n", Body);
    }
}

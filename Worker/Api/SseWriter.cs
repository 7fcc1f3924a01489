using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;

namespace AgentStreaming.Worker.Api;

/// <summary>
/// Writes Server-Sent Events (the WHATWG HTML "server-sent events" format) to a response body, UTF-8 encoded.
/// </summary>
/// <remarks>
/// Multi-line data is split into one <c>data:</c> line per line (CR, LF and CRLF all end a line, as the spec's
/// parser treats them), so a client rebuilds the text with LF line breaks. Every <c>data:</c> line carries a space
/// after the colon, which the parser strips, so text that starts with a space keeps it. Writes are buffered in the
/// pipe until <see cref="FlushAsync"/>.
/// </remarks>
internal sealed class SseWriter
{
    private static readonly byte[] IdPrefix = "id: "u8.ToArray();
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] RetryPrefix = "retry: "u8.ToArray();
    private static readonly byte[] CommentPrefix = ": "u8.ToArray();
    private static readonly byte[] NewLine = "\n"u8.ToArray();
    private readonly PipeWriter _writer;

    public SseWriter(PipeWriter writer) => _writer = writer;

    /// <summary>Writes one event: <c>id:</c> (when given), <c>event:</c> (when given), the data lines and the blank line that dispatches it.</summary>
    /// <param name="id">The event id (no line breaks); <see langword="null"/> leaves the client's last event id unchanged.</param>
    /// <param name="eventType">The event type (no line breaks); <see langword="null"/> means <c>message</c>.</param>
    /// <param name="data">The data; may be empty or span several lines.</param>
    public void WriteEvent(string? id, string? eventType, ReadOnlySpan<char> data)
    {
        if (id is not null)
        {
            WriteField(IdPrefix, id);
        }

        if (eventType is not null)
        {
            WriteField(EventPrefix, eventType);
        }

        // At least one data line, so an event with empty data is still dispatched (data = "").
        while (true)
        {
            var end = data.IndexOfAny('\r', '\n');
            if (end < 0)
            {
                WriteField(DataPrefix, data);
                break;
            }

            WriteField(DataPrefix, data[..end]);
            var skip = data[end] == '\r' && end + 1 < data.Length && data[end + 1] == '\n' ? 2 : 1;
            data = data[(end + skip)..];
        }

        _writer.Write(NewLine);
    }

    /// <summary>Writes the <c>retry:</c> field: how long the client waits before it reconnects.</summary>
    /// <param name="delay">The delay.</param>
    public void WriteRetry(TimeSpan delay)
    {
        WriteField(RetryPrefix, ((long)delay.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        _writer.Write(NewLine);
    }

    /// <summary>Writes a comment line (ignored by clients; keeps idle connections alive through proxies).</summary>
    /// <param name="text">The comment (no line breaks).</param>
    public void WriteComment(string text)
    {
        WriteField(CommentPrefix, text);
        _writer.Write(NewLine);
    }

    /// <summary>Sends what was written.</summary>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>A task that completes when flushed.</returns>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
        => await _writer.FlushAsync(cancellationToken).ConfigureAwait(false);

    private void WriteField(byte[] prefix, ReadOnlySpan<char> value)
    {
        _writer.Write(prefix);
        if (!value.IsEmpty)
        {
            Encoding.UTF8.GetBytes(value, _writer);
        }

        _writer.Write(NewLine);
    }
}

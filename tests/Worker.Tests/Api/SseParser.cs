using System.Globalization;
using System.Text;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>An event as an SSE client dispatches it.</summary>
public sealed record SseEvent(string Type, string Data, string LastEventId);

/// <summary>
/// An independent parser of the <c>text/event-stream</c> format, written from the WHATWG HTML specification's
/// "interpreting an event stream" algorithm (not from the server's writer): lines end with CRLF, LF or CR; a line
/// starting with ':' is a comment; "field: value" strips one leading space of the value; a blank line dispatches the
/// event unless its data buffer is empty; the trailing LF of the data buffer is removed; the type defaults to "message".
/// </summary>
public sealed class SseParser
{
    private readonly StringBuilder _data = new();
    private string _eventType = string.Empty;
    private string _lastEventId = string.Empty;

    public List<SseEvent> Events { get; } = [];

    public List<string> Comments { get; } = [];

    public int? Retry { get; private set; }

    public static SseParser Parse(string body)
    {
        var parser = new SseParser();
        parser.Feed(body);
        return parser;
    }

    public void Feed(string body)
    {
        var position = 0;
        if (body.StartsWith('\uFEFF'))
        {
            position = 1;
        }

        while (position < body.Length)
        {
            var end = body.IndexOfAny(['\r', '\n'], position);
            if (end < 0)
            {
                // An incomplete last line is not processed (the stream ended mid-line).
                return;
            }

            ProcessLine(body[position..end]);
            position = end + (body[end] == '\r' && end + 1 < body.Length && body[end + 1] == '\n' ? 2 : 1);
        }
    }

    private void ProcessLine(string line)
    {
        if (line.Length == 0)
        {
            Dispatch();
            return;
        }

        if (line[0] == ':')
        {
            Comments.Add(line[1..].TrimStart(' '));
            return;
        }

        var colon = line.IndexOf(':', StringComparison.Ordinal);
        string field, value;
        if (colon < 0)
        {
            field = line;
            value = string.Empty;
        }
        else
        {
            field = line[..colon];
            value = line[(colon + 1)..];
            if (value.StartsWith(' '))
            {
                value = value[1..];
            }
        }

        switch (field)
        {
            case "event":
                _eventType = value;
                break;
            case "data":
                _data.Append(value).Append('\n');
                break;
            case "id":
                if (!value.Contains('\0', StringComparison.Ordinal))
                {
                    _lastEventId = value;
                }

                break;
            case "retry":
                if (value.Length > 0 && value.All(char.IsAsciiDigit))
                {
                    Retry = int.Parse(value, CultureInfo.InvariantCulture);
                }

                break;
        }
    }

    private void Dispatch()
    {
        if (_data.Length == 0)
        {
            _eventType = string.Empty;
            return;
        }

        var data = _data.ToString(0, _data.Length - 1);
        Events.Add(new SseEvent(_eventType.Length == 0 ? "message" : _eventType, data, _lastEventId));
        _data.Clear();
        _eventType = string.Empty;
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Worker.OpenAI;

/// <summary>One OpenAI Responses streaming event: its <c>sequence_number</c>, its <c>type</c> and its JSON (which carries both).</summary>
/// <param name="SequenceNumber">The event's <c>sequence_number</c>.</param>
/// <param name="Type">The event's <c>type</c>, e.g. <c>response.output_text.delta</c>.</param>
/// <param name="Payload">The event as OpenAI sends it.</param>
internal readonly record struct ResponseEvent(int SequenceNumber, string Type, JsonObject Payload);

/// <summary>
/// Maps a run's stream entries, in order, to OpenAI Responses streaming events. A pure function of the entries: the
/// same entries give the same events with the same <c>sequence_number</c>s on every replay, on any Worker.
/// </summary>
/// <remarks>
/// <para><b>Sequence numbers.</b> Every entry owns <see cref="SlotsPerEntry"/> consecutive numbers:
/// <c>sequence_number = (entry.Sequence + 1) × SlotsPerEntry + slot</c>. <c>response.created</c> (0) and
/// <c>response.in_progress</c> (1) sit in the slots before entry 0. Within an entry the slots are fixed by role (below),
/// so a number names one event whatever a reader saw before; numbers strictly increase, with gaps.</para>
/// <list type="table">
/// <item><term>text</term><description>0 <c>output_item.added</c> (a message, when none is open), 1 <c>content_part.added</c>, 2 <c>output_text.delta</c></description></item>
/// <item><term>tool_call</term><description>0–2 close the open message (<c>output_text.done</c>, <c>content_part.done</c>, <c>output_item.done</c>), 3 <c>output_item.added</c> (an <c>mcp_call</c>, in progress)</description></item>
/// <item><term>tool_result</term><description>0–2 close the open message, 3 <c>output_item.done</c> (the <c>mcp_call</c> with its output)</description></item>
/// <item><term>reset</term><description>0–2 close the open message as <c>incomplete</c>, 3–30 close open tool calls as <c>incomplete</c>, 31 <c>response.in_progress</c> listing the abandoned items</description></item>
/// <item><term>done / error / cancelled</term><description>0–2 close the open message (<c>completed</c>, or <c>incomplete</c>), 3–30 close open tool calls as <c>incomplete</c>, 31 <c>response.completed</c>, <c>response.failed</c> or <c>response.incomplete</c> (status <c>cancelled</c>)</description></item>
/// <item><term>usage</term><description>none (added up into the terminal event's <c>usage</c>)</description></item>
/// </list>
/// <para><b>Crash re-runs.</b> A <c>reset</c> (attempt 2 begins) ends the abandoned attempt's message item as
/// <c>incomplete</c>, then sends <c>response.in_progress</c> whose <c>output</c> lists the abandoned items; the new
/// attempt's text arrives in a new message item after them, and the terminal response's <c>output</c> holds only the
/// new attempt's items, so the answer is there once. The stream trims the abandoned entries when the new attempt
/// begins: a reader that starts (or resumes from inside the abandoned attempt) after that gets the same sequence
/// numbers, with a <c>response.in_progress</c> listing no items and the new items from <c>output_index</c> 0. The SDKs'
/// accumulators take a <c>response.in_progress</c> as their new snapshot, so both views stay consistent.</para>
/// </remarks>
internal sealed class ResponseEventMapper
{
    /// <summary>Sequence numbers reserved per stream entry.</summary>
    public const int SlotsPerEntry = 32;

    /// <summary>The slot of the terminal event, and of the <c>response.in_progress</c> of a <c>reset</c>: the entry's last.</summary>
    public const int LastSlot = SlotsPerEntry - 1;

    /// <summary>The highest entry sequence whose events still fit in an <c>int32</c> sequence number.</summary>
    public const long MaxEntrySequence = (int.MaxValue / SlotsPerEntry) - 2;

    private const int FirstToolCloseSlot = 3;
    private readonly ResponseHeader _header;
    private readonly List<OutputItem> _output = [];
    private readonly List<OutputItem> _abandoned = [];
    private readonly Dictionary<string, OutputItem> _openCalls = new(StringComparer.Ordinal);
    private OutputItem? _message;
    private int _nextOutputIndex;
    private long _inputTokens;
    private long _outputTokens;
    private long _totalTokens;
    private bool _hasUsage;
    private string? _error;

    public ResponseEventMapper(ResponseHeader header) => _header = header;

    /// <summary>The response as the events so far describe it (the terminal event's response once the run ended).</summary>
    public string Status { get; private set; } = "in_progress";

    /// <summary>Whether the terminal event was produced.</summary>
    public bool Ended { get; private set; }

    /// <summary>The sequence number of the first slot of an entry.</summary>
    public static int FirstSlot(long entrySequence) => entrySequence > MaxEntrySequence
        ? throw new InvalidOperationException($"Entry {entrySequence} is beyond the sequence numbers an int32 holds.")
        : (int)((entrySequence + 1) * SlotsPerEntry);

    /// <summary><c>response.created</c> and <c>response.in_progress</c>: the events before the first entry.</summary>
    public IEnumerable<ResponseEvent> Prelude()
    {
        yield return Event(0, "response.created", "response", Snapshot());
        yield return Event(1, "response.in_progress", "response", Snapshot());
    }

    /// <summary>The events of one entry, in order.</summary>
    public List<ResponseEvent> Map(in DurableRunChunk chunk)
    {
        var events = new List<ResponseEvent>(4);
        var first = FirstSlot(chunk.Sequence);
        switch (chunk.Kind)
        {
            case DurableRunChunkKind.Text when chunk.Text.Length > 0:
                if (_message is null)
                {
                    _message = Open("message", "msg", chunk.Sequence);
                    events.Add(Event(first, "response.output_item.added", "output_index", _message.Index, "item", _message.ToJson()));
                    events.Add(Event(first + 1, "response.content_part.added", "item_id", _message.Id, "output_index", _message.Index, "content_index", 0, "part", Part(string.Empty)));
                }

                _message.Text.Append(chunk.Text);
                events.Add(Event(first + 2, "response.output_text.delta", "item_id", _message.Id, "output_index", _message.Index, "content_index", 0, "delta", chunk.Text, "logprobs", new JsonArray()));
                break;

            case DurableRunChunkKind.ToolCall:
                CloseMessage(events, first, "completed");
                if (ToolCall.Parse(chunk.Data) is { } call)
                {
                    var item = Open("mcp_call", "mcp", chunk.Sequence);
                    item.Call = call;
                    _openCalls[call.CallId] = item;
                    events.Add(Event(first + 3, "response.output_item.added", "output_index", item.Index, "item", item.ToJson()));
                }

                break;

            case DurableRunChunkKind.ToolResult:
                CloseMessage(events, first, "completed");
                if (ToolCall.ParseResult(chunk.Data) is { } result && _openCalls.Remove(result.CallId, out var open))
                {
                    open.Status = result.Error is null ? "completed" : "failed";
                    open.Call = open.Call! with { Output = result.Output, Error = result.Error };
                    events.Add(Event(first + 3, "response.output_item.done", "output_index", open.Index, "item", open.ToJson()));
                }

                break;

            case DurableRunChunkKind.Usage:
                AddUsage(chunk.Data);
                break;

            case DurableRunChunkKind.Reset:
                CloseMessage(events, first, "incomplete");
                CloseCalls(events, first);
                // The abandoned items leave the answer. The response.in_progress that follows lists exactly the items
                // this reader was given (none for a reader that starts after the stream trimmed them), and the SDKs'
                // accumulators take it as their snapshot: the new attempt's items then append after whatever the
                // client holds, so every reader stays consistent, however it got here.
                _abandoned.AddRange(_output);
                _output.Clear();
                _inputTokens = _outputTokens = _totalTokens = 0;
                _hasUsage = false;
                var restart = Snapshot();
                restart["output"] = new JsonArray([.. _abandoned.Select(item => (JsonNode)item.ToJson())]);
                events.Add(Event(first + LastSlot, "response.in_progress", "response", restart));
                break;

            case DurableRunChunkKind.Done:
                Finish(events, first, "completed", "response.completed");
                break;

            case DurableRunChunkKind.Error:
                _error = chunk.Error ?? "The agent failed.";
                Finish(events, first, "failed", "response.failed");
                break;

            case DurableRunChunkKind.Cancelled:
                Finish(events, first, "cancelled", "response.incomplete");
                break;
        }

        return events;
    }

    /// <summary>The response object as the entries so far describe it.</summary>
    public JsonObject Snapshot()
    {
        var output = new JsonArray();
        foreach (var item in _output)
        {
            output.Add(item.ToJson());
        }

        var error = _error is null ? null : new JsonObject { ["code"] = "server_error", ["message"] = _error };
        var response = OpenAIResponseObjects.Response(_header, Status, output, error);
        if (Ended && _hasUsage)
        {
            response["usage"] = OpenAIResponseObjects.Usage(_inputTokens, _outputTokens, _totalTokens);
        }

        return response;
    }

    private void Finish(List<ResponseEvent> events, int first, string status, string terminalEvent)
    {
        CloseMessage(events, first, status == "completed" ? "completed" : "incomplete");
        CloseCalls(events, first);
        Status = status;
        Ended = true;
        events.Add(Event(first + LastSlot, terminalEvent, "response", Snapshot()));
    }

    /// <summary>Ends the tool calls still open (a result never came) as <c>incomplete</c>, in slots 3–30 (more than 28 open at once: the terminal response lists the rest).</summary>
    private void CloseCalls(List<ResponseEvent> events, int first)
    {
        var slot = first + FirstToolCloseSlot;
        foreach (var call in _openCalls.Values.OrderBy(c => c.Index))
        {
            call.Status = "incomplete";
            if (slot < first + LastSlot)
            {
                events.Add(Event(slot++, "response.output_item.done", "output_index", call.Index, "item", call.ToJson()));
            }
        }

        _openCalls.Clear();
    }

    private OutputItem Open(string type, string prefix, long entrySequence)
    {
        var item = new OutputItem(type, string.Create(CultureInfo.InvariantCulture, $"{prefix}_{_header.RunId}_{entrySequence}"), _nextOutputIndex++);
        _output.Add(item);
        return item;
    }

    private void CloseMessage(List<ResponseEvent> events, int first, string status)
    {
        if (_message is not { } message)
        {
            return;
        }

        var text = message.Text.ToString();
        events.Add(Event(first, "response.output_text.done", "item_id", message.Id, "output_index", message.Index, "content_index", 0, "text", text, "logprobs", new JsonArray()));
        events.Add(Event(first + 1, "response.content_part.done", "item_id", message.Id, "output_index", message.Index, "content_index", 0, "part", Part(text)));
        message.Status = status;
        events.Add(Event(first + 2, "response.output_item.done", "output_index", message.Index, "item", message.ToJson()));
        _message = null;
    }

    private void AddUsage(string? data)
    {
        if (data is null)
        {
            return;
        }

        try
        {
            using var json = JsonDocument.Parse(data);
            var root = json.RootElement;
            var input = root.TryGetProperty("inputTokens", out var i) && i.TryGetInt64(out var iv) ? iv : 0;
            var output = root.TryGetProperty("outputTokens", out var o) && o.TryGetInt64(out var ov) ? ov : 0;
            var total = root.TryGetProperty("totalTokens", out var t) && t.TryGetInt64(out var tv) ? tv : input + output;
            _inputTokens += input;
            _outputTokens += output;
            _totalTokens += total;
            _hasUsage = true;
        }
        catch (JsonException)
        {
            // A usage entry the stream could not describe adds nothing.
        }
    }

    private static JsonObject Part(string text) => new()
    {
        ["type"] = "output_text",
        ["text"] = text,
        ["annotations"] = new JsonArray(),
        ["logprobs"] = new JsonArray(),
    };

    private static ResponseEvent Event(int sequenceNumber, string type, params object[] fields)
    {
        var payload = new JsonObject { ["type"] = type, ["sequence_number"] = sequenceNumber };
        for (var i = 0; i < fields.Length; i += 2)
        {
            payload[(string)fields[i]] = fields[i + 1] switch
            {
                JsonNode node => node,
                string s => s,
                int n => n,
                var other => throw new ArgumentException($"Unexpected field value {other.GetType().Name}.", nameof(fields)),
            };
        }

        return new ResponseEvent(sequenceNumber, type, payload);
    }

    /// <summary>An output item as the events built it.</summary>
    private sealed class OutputItem(string type, string id, int index)
    {
        public string Type { get; } = type;

        public string Id { get; } = id;

        public int Index { get; } = index;

        public string Status { get; set; } = "in_progress";

        public System.Text.StringBuilder Text { get; } = new();

        public ToolCall? Call { get; set; }

        public JsonObject ToJson() => Type == "message"
            ? OpenAIResponseObjects.Message(Id, Status, Status == "in_progress" && Text.Length == 0 ? null : Text.ToString())
            : OpenAIResponseObjects.McpCall(Id, Status, Call!);
    }
}

/// <summary>A tool call the agent made, as the stream records it (<c>tool_call</c> and <c>tool_result</c> entries).</summary>
internal sealed record ToolCall(string CallId, string Name, string Arguments, string? Output = null, string? Error = null)
{
    public static ToolCall? Parse(string? data)
    {
        if (data is null)
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(data);
            var root = json.RootElement;
            var name = root.TryGetProperty("name", out var n) ? n.GetString() ?? "tool" : "tool";
            var callId = root.TryGetProperty("callId", out var c) ? c.GetString() ?? name : name;
            var arguments = root.TryGetProperty("arguments", out var a) ? a.GetRawText() : "{}";
            return new ToolCall(callId, name, arguments);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static (string CallId, string Output, string? Error)? ParseResult(string? data)
    {
        if (data is null)
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(data);
            var root = json.RootElement;
            if (!root.TryGetProperty("callId", out var c) || c.GetString() is not { } callId)
            {
                return null;
            }

            var output = root.TryGetProperty("result", out var r) ? r.GetString() ?? string.Empty : string.Empty;
            var error = root.TryGetProperty("error", out var e) ? e.GetString() : null;
            return (callId, output, error);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

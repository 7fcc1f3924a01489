using System.Buffers;
using System.Text;
using System.Text.Json;
using AgentStreaming.Streaming.Streams;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace AgentStreaming.Streaming.Callbacks;

/// <summary>Maps an <see cref="AgentResponseUpdate"/> to the stream entries it becomes (text, tool calls and results, usage).</summary>
public static class AgentResponseUpdateMapper
{
    /// <summary>The longest tool result summary kept in an entry's <c>data</c>, in characters.</summary>
    public const int MaxResultSummaryLength = 2000;

    /// <summary>Appends the entries an update becomes to <paramref name="entries"/>, in content order.</summary>
    /// <param name="update">The update.</param>
    /// <param name="entries">The list to append to.</param>
    public static void Map(AgentResponseUpdate update, List<AgentStreamEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(update);
        ArgumentNullException.ThrowIfNull(entries);
        StringBuilder? text = null;
        foreach (var content in update.Contents)
        {
            switch (content)
            {
                case TextContent { Text: { Length: > 0 } t }:
                    (text ??= new StringBuilder()).Append(t);
                    break;
                case FunctionCallContent call:
                    Flush(ref text, entries);
                    entries.Add(new AgentStreamEntry(StreamEntryKind.ToolCall, Data: ToolCallJson(call)));
                    break;
                case FunctionResultContent result:
                    Flush(ref text, entries);
                    entries.Add(new AgentStreamEntry(StreamEntryKind.ToolResult, Data: ToolResultJson(result)));
                    break;
                case UsageContent usage:
                    Flush(ref text, entries);
                    entries.Add(new AgentStreamEntry(StreamEntryKind.Usage, Data: UsageJson(usage.Details)));
                    break;
                default:
                    break;
            }
        }

        Flush(ref text, entries);
    }

    /// <summary>Token usage as the compact JSON of a <c>usage</c> entry.</summary>
    /// <param name="usage">The usage.</param>
    /// <returns><c>{"inputTokens":…,"outputTokens":…,"totalTokens":…}</c>.</returns>
    public static string UsageJson(UsageDetails usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        return Json(w =>
        {
            if (usage.InputTokenCount is { } input)
            {
                w.WriteNumber("inputTokens", input);
            }

            if (usage.OutputTokenCount is { } output)
            {
                w.WriteNumber("outputTokens", output);
            }

            if (usage.TotalTokenCount is { } total)
            {
                w.WriteNumber("totalTokens", total);
            }
        });
    }

    private static void Flush(ref StringBuilder? text, List<AgentStreamEntry> entries)
    {
        if (text is { Length: > 0 })
        {
            entries.Add(AgentStreamEntry.ForText(text.ToString()));
            text.Clear();
        }
    }

    private static string ToolCallJson(FunctionCallContent call) => Json(w =>
    {
        w.WriteString("name", call.Name);
        w.WriteString("callId", call.CallId);
        w.WritePropertyName("arguments");
        if (call.Arguments is null)
        {
            w.WriteStartObject();
            w.WriteEndObject();
        }
        else
        {
            JsonSerializer.Serialize(w, call.Arguments, AIJsonUtilities.DefaultOptions);
        }
    });

    private static string ToolResultJson(FunctionResultContent result) => Json(w =>
    {
        w.WriteString("callId", result.CallId);
        if (result.Exception is { } exception)
        {
            w.WriteString("error", exception.Message);
        }

        string summary;
        try
        {
            summary = result.Result switch
            {
                null => string.Empty,
                string s => s,
                JsonElement e => e.GetRawText(),
                var other => JsonSerializer.Serialize(other, AIJsonUtilities.DefaultOptions),
            };
        }
        catch (NotSupportedException)
        {
            summary = result.Result?.ToString() ?? string.Empty;
        }

        var truncated = summary.Length > MaxResultSummaryLength;
        w.WriteString("result", truncated ? summary[..MaxResultSummaryLength] : summary);
        if (truncated)
        {
            w.WriteBoolean("truncated", true);
        }
    });

    private static string Json(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}

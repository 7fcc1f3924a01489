using System.Text.Json;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>Turns a run's stream entries and its persisted record into the framework's updates and responses.</summary>
/// <remarks>
/// One update per entry: <c>text</c> → <see cref="TextContent"/>; <c>tool_call</c> → <see cref="FunctionCallContent"/>;
/// <c>tool_result</c> → <see cref="FunctionResultContent"/>; <c>usage</c> → <see cref="UsageContent"/>;
/// <c>reset</c> → <see cref="DurableRunResetContent"/>; <c>done</c> → no content, <see cref="ChatFinishReason.Stop"/>;
/// <c>error</c> and <c>cancelled</c> → <see cref="ErrorContent"/> with <see cref="DurableRunContents.RunFailedErrorCode"/> or
/// <see cref="DurableRunContents.RunCancelledErrorCode"/>. <see cref="AgentResponseUpdate.ResponseId"/> is the run id,
/// <see cref="AgentResponseUpdate.MessageId"/> the run id and attempt, and <see cref="AgentResponseUpdate.RawRepresentation"/>
/// the <see cref="DurableRunChunk"/> (cursor, sequence, attempt, raw data).
/// </remarks>
internal static class DurableRunUpdates
{
    public static AgentResponseUpdate Update(DurableAIAgentProxy agent, string runId, DurableRunChunk chunk, bool withToken)
    {
        var update = new AgentResponseUpdate(ChatRole.Assistant, Contents(chunk))
        {
            AgentId = agent.Id,
            AuthorName = agent.Name,
            ResponseId = runId,
            MessageId = MessageId(runId, chunk.Attempt),
            CreatedAt = chunk.Timestamp,
            RawRepresentation = chunk,
            FinishReason = chunk.Kind == DurableRunChunkKind.Done ? ChatFinishReason.Stop : null,
            // The last update carries none: the run has ended, nothing is left to resume.
            ContinuationToken = withToken && !chunk.IsTerminal ? DurableAgentContinuationToken.ForRun(runId, chunk.Cursor) : null,
        };
        return update;
    }

    /// <summary>The answer to a poll of a run that has not ended: no messages, and the token to poll (or stream) with.</summary>
    public static AgentResponse PendingResponse(DurableAIAgentProxy agent, DurableAgentContinuationToken token) => new()
    {
        AgentId = agent.Id,
        ResponseId = token.RunId,
        ContinuationToken = token,
    };

    /// <summary>The final response of an ended run, from its persisted record: its text, and how it failed or was cancelled.</summary>
    public static AgentResponse FinalResponse(DurableAIAgentProxy agent, RunInfo run)
    {
        List<AIContent> contents = [];
        if (!string.IsNullOrEmpty(run.ResponseText))
        {
            contents.Add(new TextContent(run.ResponseText));
        }

        switch (run.Status)
        {
            case RunStatus.Failed:
                contents.Add(new ErrorContent(run.Error ?? "The run failed.") { ErrorCode = DurableRunContents.RunFailedErrorCode });
                break;
            case RunStatus.Cancelled:
                // The same message as the stream's cancelled entry.
                contents.Add(new ErrorContent(run.Attempts == 0 ? "The run was cancelled before it started." : "The run was cancelled.") { ErrorCode = DurableRunContents.RunCancelledErrorCode });
                break;
        }

        var message = new ChatMessage(ChatRole.Assistant, contents)
        {
            AuthorName = agent.Name,
            MessageId = MessageId(run.RunId, Math.Max(1, run.Attempts)),
            CreatedAt = run.CompletedAt,
        };
        return new AgentResponse(message)
        {
            AgentId = agent.Id,
            ResponseId = run.RunId,
            CreatedAt = run.CompletedAt ?? run.CreatedAt,
            FinishReason = run.Status == RunStatus.Completed ? ChatFinishReason.Stop : null,
            RawRepresentation = run,
        };
    }

    private static string MessageId(string runId, int attempt) => $"{runId}/{attempt}";

    private static List<AIContent> Contents(DurableRunChunk chunk) => chunk.Kind switch
    {
        DurableRunChunkKind.Text => [new TextContent(chunk.Text)],
        DurableRunChunkKind.Reset => [new DurableRunResetContent(chunk.Attempt)],
        DurableRunChunkKind.ToolCall when Parse(chunk.Data) is { } call => [ToolCall(call)],
        DurableRunChunkKind.ToolResult when Parse(chunk.Data) is { } result => [ToolResult(result)],
        DurableRunChunkKind.Usage when Parse(chunk.Data) is { } usage => [new UsageContent(Usage(usage))],
        DurableRunChunkKind.Error => [new ErrorContent(chunk.Error ?? "The run failed.") { ErrorCode = DurableRunContents.RunFailedErrorCode }],
        DurableRunChunkKind.Cancelled => [new ErrorContent(chunk.Error ?? "The run was cancelled.") { ErrorCode = DurableRunContents.RunCancelledErrorCode }],
        _ => [],
    };

    private static FunctionCallContent ToolCall(JsonElement call)
    {
        var arguments = call.TryGetProperty("arguments", out var a) && a.ValueKind == JsonValueKind.Object
            ? a.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value, StringComparer.Ordinal)
            : null;
        return new FunctionCallContent(String(call, "callId") ?? string.Empty, String(call, "name") ?? string.Empty, arguments);
    }

    private static FunctionResultContent ToolResult(JsonElement result)
    {
        var content = new FunctionResultContent(String(result, "callId") ?? string.Empty, String(result, "result"));
        if (result.TryGetProperty("truncated", out var truncated) && truncated.ValueKind == JsonValueKind.True)
        {
            // The stream keeps a summary of a long result.
            (content.AdditionalProperties ??= [])["truncated"] = true;
        }

        if (String(result, "error") is { } error)
        {
            (content.AdditionalProperties ??= [])["error"] = error;
        }

        return content;
    }

    private static UsageDetails Usage(JsonElement usage) => new()
    {
        InputTokenCount = Number(usage, "inputTokens"),
        OutputTokenCount = Number(usage, "outputTokens"),
        TotalTokenCount = Number(usage, "totalTokens"),
    };

    private static JsonElement? Parse(string? data)
    {
        if (string.IsNullOrEmpty(data))
        {
            return null;
        }

        try
        {
            var element = JsonSerializer.Deserialize<JsonElement>(data);
            return element.ValueKind == JsonValueKind.Object ? element : null;
        }
        catch (JsonException)
        {
            // Written by this system, so never expected; an unreadable entry still comes through as an empty update.
            return null;
        }
    }

    private static string? String(JsonElement element, string name)
        => element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long? Number(JsonElement element, string name)
        => element.TryGetProperty(name, out var value) && value.TryGetInt64(out var number) ? number : null;
}

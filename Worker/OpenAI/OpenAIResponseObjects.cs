using System.Text.Json.Nodes;
using AgentStreaming.DurableAgents;

namespace AgentStreaming.Worker.OpenAI;

/// <summary>What every response object of one run shares: its ids, agent and start.</summary>
/// <param name="RunId">The durable run.</param>
/// <param name="Model">The agent's name (the request's <c>model</c>).</param>
/// <param name="CreatedAt">When the run was accepted.</param>
/// <param name="Background">What <c>background</c> says: whether the run goes on when its client leaves.</param>
internal sealed record ResponseHeader(string RunId, string Model, DateTimeOffset CreatedAt, bool Background)
{
    public string ResponseId => OpenAIResponseIds.ToResponseId(RunId);

    /// <summary>The header of a persisted run: a run is a background response unless it was started as a foreground one (<see cref="RunInfo.Foreground"/>).</summary>
    public static ResponseHeader Of(RunInfo run, string model) => new(run.RunId, model, run.CreatedAt, !run.Foreground);
}

/// <summary>Response ids: <c>resp_</c> + the run id.</summary>
internal static class OpenAIResponseIds
{
    public const string Prefix = "resp_";

    public static string ToResponseId(string runId) => Prefix + runId;

    /// <summary>The run id a response id names, or <see langword="null"/> when it is not one of ours.</summary>
    public static string? ToRunId(string? responseId)
        => responseId is { Length: > 5 } && responseId.StartsWith(Prefix, StringComparison.Ordinal) && DurableAgentNames.IsValidId(responseId[Prefix.Length..])
            ? responseId[Prefix.Length..]
            : null;
}

/// <summary>The JSON objects of OpenAI's Responses API, as this adapter fills them.</summary>
internal static class OpenAIResponseObjects
{
    /// <summary>The <c>status</c> of a run as a response.</summary>
    public static string Status(RunStatus status) => status switch
    {
        RunStatus.Queued => "queued",
        RunStatus.Running => "in_progress",
        RunStatus.Completed => "completed",
        RunStatus.Failed => "failed",
        RunStatus.Cancelled => "cancelled",
        _ => "in_progress",
    };

    /// <summary>A response object. Fields the agent does not take per request carry OpenAI's defaults.</summary>
    public static JsonObject Response(ResponseHeader header, string status, JsonArray output, JsonObject? error = null, JsonObject? usage = null) => new()
    {
        ["id"] = header.ResponseId,
        ["object"] = "response",
        ["created_at"] = header.CreatedAt.ToUnixTimeSeconds(),
        ["status"] = status,
        ["background"] = header.Background,
        ["error"] = error,
        ["incomplete_details"] = null,
        ["instructions"] = null,
        ["max_output_tokens"] = null,
        ["model"] = header.Model,
        ["output"] = output,
        ["parallel_tool_calls"] = true,
        ["previous_response_id"] = null,
        ["store"] = true,
        ["temperature"] = 1.0,
        ["text"] = new JsonObject { ["format"] = new JsonObject { ["type"] = "text" } },
        ["tool_choice"] = "auto",
        ["tools"] = new JsonArray(),
        ["top_p"] = 1.0,
        ["truncation"] = "disabled",
        ["usage"] = usage,
        ["metadata"] = new JsonObject(),
    };

    /// <summary>The response object of a run from its persisted record (no stream needed).</summary>
    public static JsonObject FromRun(ResponseHeader header, RunInfo run)
    {
        var output = new JsonArray();
        if (run.ResponseText is { Length: > 0 } text)
        {
            output.Add(Message("msg_" + run.RunId, run.Status == RunStatus.Completed ? "completed" : "incomplete", text));
        }

        var error = run.Status == RunStatus.Failed
            ? new JsonObject { ["code"] = "server_error", ["message"] = run.Error ?? "The agent failed." }
            : null;
        return Response(header, Status(run.Status), output, error);
    }

    /// <summary>An assistant message item with one <c>output_text</c> part (none while it has no text yet).</summary>
    public static JsonObject Message(string id, string status, string? text)
    {
        var content = new JsonArray();
        if (text is not null)
        {
            content.Add(new JsonObject
            {
                ["type"] = "output_text",
                ["text"] = text,
                ["annotations"] = new JsonArray(),
                ["logprobs"] = new JsonArray(),
            });
        }

        return new JsonObject
        {
            ["type"] = "message",
            ["id"] = id,
            ["status"] = status,
            ["role"] = "assistant",
            ["content"] = content,
        };
    }

    /// <summary>
    /// A tool call the agent made on the server, as an <c>mcp_call</c> item: the item type OpenAI uses for tools that
    /// the service runs itself (a <c>function_call</c> would ask the client to run the function).
    /// </summary>
    public static JsonObject McpCall(string id, string status, ToolCall call) => new()
    {
        ["type"] = "mcp_call",
        ["id"] = id,
        ["status"] = status,
        ["server_label"] = "agent",
        ["name"] = call.Name,
        ["arguments"] = call.Arguments,
        ["output"] = call.Output,
        ["error"] = call.Error,
    };

    public static JsonObject Usage(long input, long output, long total) => new()
    {
        ["input_tokens"] = input,
        ["input_tokens_details"] = new JsonObject { ["cached_tokens"] = 0 },
        ["output_tokens"] = output,
        ["output_tokens_details"] = new JsonObject { ["reasoning_tokens"] = 0 },
        ["total_tokens"] = total,
    };

    /// <summary>An input item list entry: the run's user message.</summary>
    public static JsonObject InputMessage(string id, string text) => new()
    {
        ["type"] = "message",
        ["id"] = id,
        ["status"] = "completed",
        ["role"] = "user",
        ["content"] = new JsonArray { new JsonObject { ["type"] = "input_text", ["text"] = text } },
    };
}

using System.Globalization;
using System.Text;
using System.Text.Json;

namespace AgentStreaming.Worker.OpenAI;

/// <summary>
/// A <c>POST /v1/responses</c> body as the adapter takes it: the agent (<c>model</c>), the user's text, the conversation
/// to continue and the mode. What the agent cannot honour is refused, not ignored.
/// </summary>
/// <param name="Model">The agent's name.</param>
/// <param name="Message">The user's text (several user messages are joined with line breaks).</param>
/// <param name="PreviousResponseId">The response whose conversation continues, if any.</param>
/// <param name="Stream">Whether the response is streamed as it is written.</param>
/// <param name="Background">Whether the run goes on when the client leaves.</param>
internal sealed record CreateResponseRequest(string Model, string Message, string? PreviousResponseId, bool Stream, bool Background)
{
    /// <summary>Fields that change what the agent does and that a durable agent fixes on the worker side.</summary>
    private static readonly string[] Refused = ["instructions", "tools", "conversation", "prompt"];

    /// <summary>Parses and checks a request body.</summary>
    /// <returns>The request, or the error to answer.</returns>
    public static (CreateResponseRequest? Request, IResult? Error) Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return Fail("The request body must be a JSON object.", null);
        }

        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(model.GetString()))
        {
            return (null, OpenAIErrors.BadRequest("Missing required parameter: 'model' (the agent's name, e.g. 'TravelPlanner').", "model", "missing_required_parameter"));
        }

        foreach (var name in Refused)
        {
            if (root.TryGetProperty(name, out var value) && !IsEmpty(value))
            {
                return (null, OpenAIErrors.Unsupported(name switch
                {
                    "instructions" => "'instructions' is not supported: the agent's instructions are fixed on the server.",
                    "tools" => "'tools' is not supported: the agent calls its own tools on the server; client-defined tools cannot be added per request.",
                    "conversation" => "'conversation' is not supported: continue a conversation with 'previous_response_id'.",
                    _ => "'prompt' is not supported: the agent's prompt is fixed on the server.",
                }, name));
            }
        }

        if (root.TryGetProperty("tool_choice", out var toolChoice) && toolChoice.ValueKind != JsonValueKind.Null
            && Text(toolChoice) is not "auto")
        {
            return (null, OpenAIErrors.Unsupported("'tool_choice' is not supported: the agent chooses its tools; only 'auto' is accepted.", "tool_choice"));
        }

        if (root.TryGetProperty("text", out var textOptions) && textOptions.ValueKind == JsonValueKind.Object
            && textOptions.TryGetProperty("format", out var format) && format.ValueKind == JsonValueKind.Object
            && format.TryGetProperty("type", out var formatType) && Text(formatType) is not "text")
        {
            return (null, OpenAIErrors.Unsupported("'text.format' is not supported: the agent answers in text; structured output cannot be requested per run.", "text.format"));
        }

        var (stream, streamError) = Flag(root, "stream", false);
        var (background, backgroundError) = Flag(root, "background", false);
        var (store, storeError) = Flag(root, "store", true);
        if ((streamError ?? backgroundError ?? storeError) is { } flagError)
        {
            return (null, flagError);
        }

        if (background && !store)
        {
            return (null, OpenAIErrors.BadRequest("Background mode requires 'store': true (the default).", "store"));
        }

        string? previous = null;
        if (root.TryGetProperty("previous_response_id", out var previousId) && previousId.ValueKind != JsonValueKind.Null)
        {
            if (previousId.ValueKind != JsonValueKind.String)
            {
                return Fail("'previous_response_id' must be a string.", "previous_response_id");
            }

            previous = previousId.GetString();
        }

        if (!root.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
        {
            return (null, OpenAIErrors.BadRequest("Missing required parameter: 'input'.", "input", "missing_required_parameter"));
        }

        var (message, inputError) = ReadInput(input);
        if (inputError is not null)
        {
            return (null, inputError);
        }

        if (string.IsNullOrWhiteSpace(message))
        {
            return Fail("'input' holds no text: send a string or user messages with input_text.", "input");
        }

        return (new CreateResponseRequest(model.GetString()!, message, previous, stream, background), null);
    }

    private static (string? Text, IResult? Error) ReadInput(JsonElement input)
    {
        if (input.ValueKind == JsonValueKind.String)
        {
            return (input.GetString(), null);
        }

        if (input.ValueKind != JsonValueKind.Array)
        {
            return (null, OpenAIErrors.BadRequest("'input' must be a string or a list of message items.", "input"));
        }

        var text = new StringBuilder();
        var index = 0;
        foreach (var item in input.EnumerateArray())
        {
            var where = string.Create(CultureInfo.InvariantCulture, $"input[{index}]");
            if (item.ValueKind != JsonValueKind.Object)
            {
                return (null, OpenAIErrors.BadRequest($"'{where}' must be a message object.", where));
            }

            if (item.TryGetProperty("type", out var type) && Text(type) is not "message")
            {
                return (null, OpenAIErrors.Unsupported($"'{where}' is a '{Clip(type.ToString())}' item: only user messages are accepted (the conversation's history lives on the server; continue it with 'previous_response_id').", where));
            }

            if (!item.TryGetProperty("role", out var role) || Text(role) is not "user")
            {
                return (null, OpenAIErrors.Unsupported($"'{where}.role' must be 'user': the agent's instructions and the conversation's history live on the server.", where + ".role"));
            }

            if (!item.TryGetProperty("content", out var content))
            {
                return (null, OpenAIErrors.BadRequest($"Missing required parameter: '{where}.content'.", where + ".content", "missing_required_parameter"));
            }

            if (content.ValueKind == JsonValueKind.String)
            {
                Append(text, content.GetString());
            }
            else if (content.ValueKind == JsonValueKind.Array)
            {
                var part = 0;
                foreach (var piece in content.EnumerateArray())
                {
                    var partWhere = string.Create(CultureInfo.InvariantCulture, $"{where}.content[{part}]");
                    if (piece.ValueKind != JsonValueKind.Object || !piece.TryGetProperty("type", out var partType) || Text(partType) is not "input_text"
                        || !piece.TryGetProperty("text", out var partText) || partText.ValueKind != JsonValueKind.String)
                    {
                        return (null, OpenAIErrors.Unsupported($"'{partWhere}' is not supported: the agent takes text only ({{\"type\": \"input_text\", \"text\": \"...\"}}).", partWhere));
                    }

                    Append(text, partText.GetString());
                    part++;
                }
            }
            else
            {
                return (null, OpenAIErrors.BadRequest($"'{where}.content' must be a string or a list of input_text parts.", where + ".content"));
            }

            index++;
        }

        return (text.ToString(), null);
    }

    private static void Append(StringBuilder text, string? piece)
    {
        if (string.IsNullOrEmpty(piece))
        {
            return;
        }

        if (text.Length > 0)
        {
            text.Append('\n');
        }

        text.Append(piece);
    }

    private static (bool Value, IResult? Error) Flag(JsonElement root, string name, bool fallback)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return (fallback, null);
        }

        return value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? (value.GetBoolean(), null)
            : (fallback, OpenAIErrors.BadRequest($"'{name}' must be a boolean.", name));
    }

    private static string? Text(JsonElement value) => value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool IsEmpty(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => true,
        JsonValueKind.String => value.GetString()!.Length == 0,
        JsonValueKind.Array => value.GetArrayLength() == 0,
        _ => false,
    };

    private static (CreateResponseRequest?, IResult?) Fail(string message, string? param) => (null, OpenAIErrors.BadRequest(message, param));

    private static string Clip(string value) => AgentApiEndpoints.Clip(value);
}

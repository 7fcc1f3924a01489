using System.Text.Json;
using Microsoft.Extensions.AI;

namespace AgentStreaming.DurableAgents.Grains;

/// <summary>
/// What of a conversation's history is sent to the model: the last <c>window</c> recorded messages (never starting
/// with an answer whose question fell out of the window), with the tool calls and results each answer made replayed
/// before its text, and without the questions of failed runs (the model never answered them).
/// </summary>
internal static class ModelHistory
{
    /// <summary>Builds the messages for a run: the history window, then the run's question.</summary>
    /// <param name="history">The recorded messages, oldest first.</param>
    /// <param name="question">The run's message.</param>
    /// <param name="window">How many recorded messages to send at most; 0 sends them all.</param>
    /// <returns>The messages for the agent.</returns>
    public static List<ChatMessage> Build(IReadOnlyList<ConversationMessage> history, string question, int window)
    {
        var start = window > 0 && history.Count > window ? history.Count - window : 0;
        while (start < history.Count && history[start].Role != "user")
        {
            start++;
        }

        var messages = new List<ChatMessage>(Math.Min(history.Count, window > 0 ? window : history.Count) * 2 + 1);
        for (var i = start; i < history.Count; i++)
        {
            var message = history[i];
            if (message.Failed)
            {
                continue;
            }

            if (message.Role == "assistant")
            {
                AddToolExchange(messages, message);
                if (message.Text.Length > 0)
                {
                    messages.Add(new ChatMessage(ChatRole.Assistant, message.Text));
                }
            }
            else if (message.Text.Length > 0)
            {
                messages.Add(new ChatMessage(ChatRole.User, message.Text));
            }
        }

        messages.Add(new ChatMessage(ChatRole.User, question));
        return messages;
    }

    private static void AddToolExchange(List<ChatMessage> messages, ConversationMessage answer)
    {
        if (answer.ToolCalls.Count == 0)
        {
            return;
        }

        var calls = new List<AIContent>(answer.ToolCalls.Count);
        var results = new List<AIContent>(answer.ToolCalls.Count);
        for (var i = 0; i < answer.ToolCalls.Count; i++)
        {
            var call = answer.ToolCalls[i];
            // Recorded calls keep no provider call id; a stable one per answer pairs each call with its result.
            var callId = $"{answer.RunId}-{i}";
            calls.Add(new FunctionCallContent(callId, call.Name, Arguments(call.Arguments)));
            results.Add(new FunctionResultContent(callId, call.Result));
        }

        messages.Add(new ChatMessage(ChatRole.Assistant, calls));
        messages.Add(new ChatMessage(ChatRole.Tool, results));
    }

    private static Dictionary<string, object?>? Arguments(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, object?>>(json, AIJsonUtilities.DefaultOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

using System.Text.Json;
using Microsoft.Agents.AI;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>
/// A conversation with a durable agent (the original sample's thread): its history lives in the workers, so the
/// session holds only the agent's name, the conversation id and the session's <see cref="AgentSession.StateBag"/>.
/// </summary>
/// <remarks>
/// Made by <see cref="DurableAIAgentProxy.NewSession"/>, <see cref="DurableAIAgentProxy.GetSession"/>,
/// <c>CreateSessionAsync</c> or <c>DeserializeSessionAsync</c> of the agent it belongs to; another agent refuses it.
/// Serialized as <c>{"agentName":"…","conversationId":"…","stateBag":{…}}</c>.
/// </remarks>
public sealed class DurableAgentSession : AgentSession
{
    internal DurableAgentSession(string agentName, string conversationId, AgentSessionStateBag? stateBag = null)
        : base(stateBag ?? new AgentSessionStateBag())
    {
        AgentName = agentName;
        ConversationId = conversationId;
    }

    /// <summary>The agent the conversation is with.</summary>
    public string AgentName { get; }

    /// <summary>The conversation id (the durable conversation's key in the workers).</summary>
    public string ConversationId { get; }

    /// <summary>The agent and conversation, for logs.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => $"{AgentName}/{ConversationId}";

    internal JsonElement Serialize()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("agentName", AgentName);
            writer.WriteString("conversationId", ConversationId);
            if (StateBag.Count > 0)
            {
                writer.WritePropertyName("stateBag");
                StateBag.Serialize().WriteTo(writer);
            }

            writer.WriteEndObject();
        }

        using var document = JsonDocument.Parse(stream.ToArray());
        return document.RootElement.Clone();
    }

    internal static DurableAgentSession Deserialize(string agentName, JsonElement serializedState)
    {
        const string Parameter = nameof(serializedState);
        var state = serializedState;
        if (state.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("The serialized session must be a JSON object, as SerializeSessionAsync returned it.", Parameter);
        }

        var name = state.TryGetProperty("agentName", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        var conversationId = state.TryGetProperty("conversationId", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
        if (name is null || conversationId is null)
        {
            throw new ArgumentException("The serialized session is not a durable agent's session: it has no agentName and conversationId.", Parameter);
        }

        if (!string.Equals(name, agentName, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The serialized session is a conversation with agent '{DurableAgentNames.Sanitize(name)}', not with '{agentName}'. Deserialize it with that agent.", Parameter);
        }

        try
        {
            _ = DurableAgentNames.ConversationKey(agentName, conversationId);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException("The serialized session's conversation id is malformed: " + ex.Message.Split(" (Parameter", 2)[0], Parameter, ex);
        }

        var stateBag = state.TryGetProperty("stateBag", out var bag) && bag.ValueKind == JsonValueKind.Object ? AgentSessionStateBag.Deserialize(bag) : null;
        return new DurableAgentSession(agentName, conversationId, stateBag);
    }
}

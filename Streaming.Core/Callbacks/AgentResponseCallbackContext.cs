namespace AgentStreaming.Streaming.Callbacks;

/// <summary>Which run an agent response callback is about.</summary>
/// <param name="AgentName">The agent's registered name, e.g. <c>TravelPlanner</c>.</param>
/// <param name="ConversationId">The conversation (session) the run belongs to.</param>
/// <param name="RunId">The run id; its stream is <c>agent-stream:{RunId}</c>.</param>
/// <param name="Attempt">The 1-based attempt; attempts after the first follow a crash.</param>
/// <param name="TraceParent">The W3C <c>traceparent</c> of the run, written on the attempt's first stream entry.</param>
public sealed record AgentResponseCallbackContext(string AgentName, string ConversationId, string RunId, int Attempt = 1, string? TraceParent = null);

using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace AgentStreaming.Worker.Tests;

/// <summary>Helpers to run an agent and look at what it streamed.</summary>
internal static class TestAgentRuns
{
    public static async Task<List<AgentResponseUpdate>> CollectAsync(
        AIAgent agent, string prompt, CancellationToken cancellationToken = default)
    {
        var updates = new List<AgentResponseUpdate>();
        await foreach (var update in agent.RunStreamingAsync(prompt, cancellationToken: cancellationToken))
        {
            updates.Add(update);
        }

        return updates;
    }

    public static List<T> ContentsOf<T>(this IEnumerable<AgentResponseUpdate> updates)
        where T : AIContent =>
        updates.SelectMany(u => u.Contents).OfType<T>().ToList();

    public static string TextOf(this IEnumerable<AgentResponseUpdate> updates) =>
        string.Concat(updates.Select(u => u.Text));
}

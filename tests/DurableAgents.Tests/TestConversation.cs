using AgentStreaming.DurableAgents.Client;
using Microsoft.Extensions.DependencyInjection;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>
/// What most tests start with: an <see cref="OrleansCluster"/> of its own whose <c>TestAgent</c> answers with a scripted
/// model, that agent, and a new session of it. Disposing it stops the cluster.
/// </summary>
/// <param name="Cluster">The cluster (one silo and a client).</param>
/// <param name="Agent">The client's <c>TestAgent</c>.</param>
/// <param name="Session">A new conversation of <see cref="Agent"/>.</param>
internal sealed record TestConversation(OrleansCluster Cluster, DurableAIAgentProxy Agent, DurableAgentSession Session) : IAsyncDisposable
{
    /// <summary>Starts the cluster on <paramref name="redis"/> and opens a session of its <c>TestAgent</c>.</summary>
    /// <param name="redis">The assembly's redis-server.</param>
    /// <param name="model">The agent's model; a default <see cref="ScriptedChatClient"/> if <see langword="null"/>.</param>
    /// <param name="configureServices">More silo services.</param>
    public static async Task<TestConversation> StartAsync(RedisServer redis, ScriptedChatClient? model = null, Action<IServiceCollection>? configureServices = null)
    {
        var cluster = await OrleansCluster.StartAsync(redis, model ?? new ScriptedChatClient(), configureServices);
        var agent = cluster.Client.GetAgent("TestAgent");
        return new TestConversation(cluster, agent, agent.NewSession());
    }

    public ValueTask DisposeAsync() => Cluster.DisposeAsync();
}

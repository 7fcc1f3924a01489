using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Testing;

[assembly: AssemblyFixture(typeof(AgentStreaming.Client.Tests.ClientFixture))]

namespace AgentStreaming.Client.Tests;

/// <summary>
/// One real redis-server and one Worker process (its own cluster id) shared by the assembly, and an Orleans client in
/// the test to read conversations back.
/// </summary>
public sealed class ClientFixture : RedisServerFixture
{
    /// <summary>Tokens per second of the offline model: slow enough to interrupt a run several times.</summary>
    public const double TokensPerSecond = 50;

    private WorkerCluster? _cluster;

    /// <summary>The Orleans cluster id of the assembly's Worker.</summary>
    public string ClusterId => Cluster.ClusterId;

    /// <summary>The test's Orleans client, to read conversations back.</summary>
    public DurableAgentClient Agents => Cluster.Client;

    private WorkerCluster Cluster => _cluster ?? throw new InvalidOperationException("Not started.");

    protected override async Task OnStartedAsync() => _cluster = await WorkerCluster.StartAsync(Server, workers: 1, TokensPerSecond);

    /// <summary>Starts a Worker process of a cluster and waits until it is ready.</summary>
    public async Task<ServiceProcess> StartWorkerAsync(string clusterId, string name, IReadOnlyDictionary<string, string?>? environment = null)
        => (await WorkerProcess.StartAsync(Server.ConnectionString, clusterId, name, TokensPerSecond, environment)).Process;

    /// <summary>The environment the Client runs with: this fixture's Redis and cluster.</summary>
    public Dictionary<string, string?> ClientEnvironment(string? clusterId = null) => new()
    {
        ["ConnectionStrings__redis"] = ConnectionString,
        ["Orleans__ClusterId"] = clusterId ?? ClusterId,
        ["DurableAgents__Client__ConnectTimeout"] = "00:00:20",
        ["NO_COLOR"] = null,
    };

    /// <summary>The persisted answer of a run, from the conversation's history.</summary>
    public async Task<string> PersistedAnswerAsync(string conversationId, string runId)
    {
        var agent = Agents.GetAgent("TravelPlanner");
        var conversation = await agent.GetConversationAsync(agent.GetSession(conversationId));
        return Assert.Single(conversation.History, m => m.Role == "assistant" && m.RunId == runId).Text;
    }

    protected override async ValueTask OnStoppingAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
            _cluster = null;
        }
    }
}

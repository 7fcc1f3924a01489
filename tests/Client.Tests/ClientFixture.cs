using System.Globalization;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

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

    private readonly List<ServiceProcess> _workers = [];
    private IHost? _orleansClient;

    public string ClusterId { get; } = "client-" + Guid.NewGuid().ToString("N")[..12];

    public DurableAgentClient Agents => _orleansClient!.Services.GetRequiredService<DurableAgentClient>();

    protected override async Task OnStartedAsync()
    {
        _workers.Add(await StartWorkerAsync(ClusterId, "worker"));
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration["ConnectionStrings:redis"] = ConnectionString;
        builder.UseOrleansClient(client => client.UseDurableAgentsRedis(ConnectionString, ClusterId));
        builder.Services.AddDurableAgentsClient();
        _orleansClient = builder.Build();
        await _orleansClient.StartAsync();
    }

    /// <summary>Starts a Worker process of a cluster and waits until it is ready.</summary>
    public async Task<ServiceProcess> StartWorkerAsync(string clusterId, string name, IReadOnlyDictionary<string, string?>? environment = null)
        => (await WorkerProcess.StartAsync(Server, clusterId, name, TokensPerSecond, environment)).Process;

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
        if (_orleansClient is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _orleansClient.StopAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
            }

            _orleansClient.Dispose();
            _orleansClient = null;
        }

        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }

        _workers.Clear();
    }
}

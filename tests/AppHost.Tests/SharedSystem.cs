namespace AgentStreaming.AppHost.Tests;

/// <summary>
/// One started system for the tests that can share it (an Aspire app takes about 35 s to start and stop here):
/// two Worker replicas, the demo Client's run, and the Aspire dashboard.
/// </summary>
public sealed class SharedSystem : IAsyncLifetime
{
    private AspireSystem? _system;

    internal AspireSystem System => _system ?? throw new InvalidOperationException("Not started.");

    public async ValueTask InitializeAsync() => _system = await AspireSystem.StartAsync(workerReplicas: 2, demoClient: true, dashboard: true);

    public async ValueTask DisposeAsync()
    {
        if (_system is not null)
        {
            await _system.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SharedSystemDefinition : ICollectionFixture<SharedSystem>
{
    public const string Name = "shared system";
}

using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.AppHost.Tests;

/// <summary>An Orleans client in the test, connected to the Workers an AppHost started.</summary>
internal sealed class SystemClient : IAsyncDisposable
{
    private readonly IHost _host;

    private SystemClient(IHost host) => _host = host;

    public DurableAgentClient Client => _host.Services.GetRequiredService<DurableAgentClient>();

    public static async Task<SystemClient> ConnectAsync(string redis)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration["ConnectionStrings:redis"] = redis;
        builder.UseOrleansClient(client => client.UseDurableAgentsRedis(redis));
        builder.Services.AddDurableAgentsClient();
        var host = builder.Build();
        await host.StartWithinAsync("The test's Orleans client of the app's Workers");
        return new SystemClient(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopWithinAsync("The test's Orleans client of the app's Workers", TimeSpan.FromSeconds(5));
        _host.Dispose();
    }
}

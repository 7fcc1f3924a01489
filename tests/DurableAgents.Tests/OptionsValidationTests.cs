using AgentStreaming.DurableAgents.Options;
using AgentStreaming.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>Bad options stop the host at start, with a message that names the setting.</summary>
public sealed class OptionsValidationTests
{
    [Theory]
    [InlineData("DurableAgents:MaxAttempts", "0", "DurableAgents:MaxAttempts must be at least 1.")]
    [InlineData("DurableAgents:ConversationTtl", "00:00:00", "DurableAgents:ConversationTtl must be positive.")]
    [InlineData("DurableAgents:HistoryWindow", "-1", "DurableAgents:HistoryWindow must not be negative.")]
    [InlineData("DurableAgents:RunLeaseRenewInterval", "00:00:06", "DurableAgents:RunLeaseRenewInterval must be positive and shorter than RunLeaseDuration.")]
    public async Task AddDurableAgents_BadSetting_FailsAtHostStart(string key, string value, string message)
    {
        var error = await TestHosts.StartFailsAsync(BuildWorker(new() { [key] = value }));

        Assert.Contains(message, error.Failures);
    }

    [Fact]
    public async Task AddDurableAgents_SettingFromCode_IsValidatedToo()
    {
        var error = await TestHosts.StartFailsAsync(BuildWorker([], o => o.RecoveryScanInterval = TimeSpan.Zero));

        Assert.Contains("DurableAgents:RecoveryScanInterval must be positive.", error.Failures);
    }

    [Theory]
    [InlineData("ConnectTimeout")]
    [InlineData("CallRetryTimeout")]
    public async Task AddDurableAgentsClient_NegativeTimeout_FailsAtHostStart(string option)
    {
        var error = await TestHosts.StartFailsAsync(BuildClient(new() { ["DurableAgents:Client:" + option] = "-00:00:01" }));

        Assert.Contains(error.Failures, f => f.StartsWith($"DurableAgents:Client:{option} must not be negative", StringComparison.Ordinal));
    }

    [Fact]
    public void AddDurableAgentsClient_BindsTheClientSection()
    {
        using var host = BuildClient(new() { ["DurableAgents:Client:ConnectTimeout"] = "00:00:05", ["DurableAgents:Client:CallRetryTimeout"] = "00:00:00" });

        var options = host.Services.GetRequiredService<IOptions<DurableAgentsClientOptions>>().Value;

        Assert.Equal(TimeSpan.FromSeconds(5), options.ConnectTimeout);
        Assert.Equal(TimeSpan.Zero, options.CallRetryTimeout);
    }

    // Nothing listens on port 1: the hosts must fail before they connect to anything.
    private const string Unreachable = "127.0.0.1:1";

    private static IHost BuildWorker(Dictionary<string, string?> settings, Action<DurableAgentsOptions>? configure = null)
        => Build(settings, builder =>
        {
            builder.UseOrleans(silo => silo.UseDurableAgentsRedis(Unreachable, clusterId: "options-" + Guid.NewGuid().ToString("N")[..8]));
            builder.Services.AddDurableAgents(configure);
        });

    private static IHost BuildClient(Dictionary<string, string?> settings)
        => Build(settings, builder =>
        {
            builder.UseOrleansClient(client => client.UseDurableAgentsRedis(Unreachable, "options-" + Guid.NewGuid().ToString("N")[..8]));
            builder.Services.AddDurableAgentsClient();
        });

    private static IHost Build(Dictionary<string, string?> settings, Action<HostApplicationBuilder> configure)
        => TestHosts.Build(configure, [.. settings, new("ConnectionStrings:redis", Unreachable)]);
}

using AgentStreaming.DurableAgents.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>
/// The grain directory a Worker's silo gets: Orleans' distributed directory by default, with a hold on a dead silo's
/// grains short enough that the run claim, not the directory, decides when a killed Worker's runs are re-driven.
/// </summary>
public sealed class GrainDirectoryOptionsTests
{
    [Fact]
    public void ByDefault_TheDistributedDirectoryIsUsed()
    {
        var (host, services) = BuildSilo(new Dictionary<string, string?>());
        using (host)
        {
            Assert.True(HasDistributedDirectory(services));
        }
    }

    [Fact]
    public void TheSettingFalse_SelectsOrleansDefaultDirectory()
    {
        var (host, services) = BuildSilo(new Dictionary<string, string?> { [DurableAgentsOrleansExtensions.DistributedGrainDirectoryKey] = "false" });
        using (host)
        {
            Assert.False(HasDistributedDirectory(services));
        }
    }

    [Fact]
    public void TheHoldOnADeadSilosGrains_EndsBeforeARunClaimLapses_ButIsNotOff()
    {
        using var host = BuildSilo(new Dictionary<string, string?>()).Host;
        var membership = host.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;
        var directory = host.Services.GetRequiredService<IOptions<GrainDirectoryOptions>>().Value;
        var claim = host.Services.GetRequiredService<IOptions<DurableAgentsOptions>>().Value.RunLeaseDuration;

        // Orleans holds a dead silo's grains for RangeLeaseDuration minus the failure-detection window, from the moment
        // the silo is declared dead (Orleans' DistributedGrainDirectory.CalculateDeadSiloLeaseDuration).
        var hold = directory.RangeLeaseDuration - (membership.MaxProbeTimeout * membership.NumMissedProbesLimit);
        Assert.True(hold > TimeSpan.Zero, $"The hold ({hold}) must still let a silo wrongly declared dead stop first.");
        Assert.True(hold >= membership.TableRefreshTimeout, $"The hold ({hold}) must last at least one membership table refresh ({membership.TableRefreshTimeout}).");
        Assert.True(hold < claim, $"The hold ({hold}) must end before a run claim ({claim}) lapses, or it delays recovery.");
    }

    private static (IHost Host, IServiceCollection Services) BuildSilo(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.UseOrleans(silo => silo.UseDurableAgentsRedis("127.0.0.1:1", clusterId: "options-" + Guid.NewGuid().ToString("N")[..8]));
        builder.Services.AddDurableAgents();
        return (builder.Build(), builder.Services);
    }

    // Orleans' DistributedGrainDirectory is internal; AddDistributedGrainDirectory registers it as a service.
    private static bool HasDistributedDirectory(IServiceCollection services)
        => services.Any(d => d.ServiceType.FullName == "Orleans.Runtime.GrainDirectory.DistributedGrainDirectory");
}

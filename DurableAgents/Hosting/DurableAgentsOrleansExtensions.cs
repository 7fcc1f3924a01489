using Microsoft.Extensions.Configuration;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.Streaming.Options;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;

namespace Microsoft.Extensions.Hosting;

/// <summary>Configures Orleans silos and clients for the durable agents on Redis.</summary>
public static class DurableAgentsOrleansExtensions
{
    /// <summary>The Orleans cluster and service id the workers and clients share.</summary>
    public const string DefaultClusterId = "agent-streaming";

    /// <summary>
    /// The configuration key (<c>DurableAgents:DistributedGrainDirectory</c>, default <see langword="true"/>) for
    /// Orleans' distributed grain directory, with which a crashed Worker does not disturb the runs the others host.
    /// <see langword="false"/> selects Orleans' default directory: a crash then also deactivates activations on the
    /// surviving Workers whose directory entries the crashed one held, and their runs are re-driven as a new attempt.
    /// Every silo of a cluster should use the same setting.
    /// </summary>
    public const string DistributedGrainDirectoryKey = "DurableAgents:DistributedGrainDirectory";

    /// <summary>
    /// Configures a silo: Redis clustering (membership), Redis grain storage for conversations (System.Text.Json,
    /// expiring with the conversation TTL), Redis reminders, and failure detection tuned so a killed worker is
    /// declared dead within seconds. The silo's start waits (up to 2 minutes) until Redis is ready: a Redis still loading
    /// its data after a restart, or a cluster failing over, delays the start instead of failing it.
    /// </summary>
    /// <param name="silo">The silo builder.</param>
    /// <param name="connectionString">The Redis connection string (<c>host:port</c> or <c>redis://</c>).</param>
    /// <param name="conversationTtl">How long a conversation's state lives after its last write (default 14 days).</param>
    /// <param name="clusterId">The cluster (and service) id; workers and clients of one system share it.</param>
    /// <returns>The silo builder.</returns>
    public static ISiloBuilder UseDurableAgentsRedis(this ISiloBuilder silo, string connectionString, TimeSpan? conversationTtl = null, string clusterId = DefaultClusterId)
    {
        ArgumentNullException.ThrowIfNull(silo);
        var redis = JoinCluster(silo.Services, silo.Configuration, connectionString, clusterId);
        // Before the membership table's first read: a Redis still loading its data would fail the silo's start.
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(provider => new AgentStreaming.DurableAgents.Hosting.RedisReadinessGate(
            redis.Clone(), provider.GetRequiredService<Microsoft.Extensions.Logging.ILogger<AgentStreaming.DurableAgents.Hosting.RedisReadinessGate>>()));
        silo.UseRedisClustering(o => o.ConfigurationOptions = redis.Clone());
        silo.AddRedisGrainStorage(DurableAgentNames.StorageProvider, (OptionsBuilder<Orleans.Persistence.RedisStorageOptions> builder) => builder.Configure<IServiceProvider>((o, provider) =>
        {
            o.ConfigurationOptions = redis.Clone();
            o.EntryExpiry = conversationTtl ?? provider.GetService<IOptions<DurableAgentsOptions>>()?.Value.ConversationTtl ?? TimeSpan.FromDays(14);
            o.GrainStorageSerializer = new SystemTextJsonGrainStorageSerializer(Options.Options.Create(new Orleans.Serialization.SystemTextJsonGrainStorageSerializerOptions()));
        }));
        silo.UseRedisReminderService(o => o.ConfigurationOptions = redis.Clone());
        // With Orleans' default directory, a silo's crash deactivates the activations on the *surviving* silos whose
        // registrations lived in the dead silo's directory partition (reason DirectoryFailure), and their runs are
        // re-driven as a new attempt. The distributed directory keeps them (SystemTests' PeerCrashTests).
        if (silo.Configuration.GetValue(DistributedGrainDirectoryKey, defaultValue: true))
        {
#pragma warning disable ORLEANSEXP003 // Experimental in Orleans 10.4.2; covered by SystemTests' PeerCrashTests.
            silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
            silo.Services.AddOptions<GrainDirectoryOptions>().Configure<IOptions<ClusterMembershipOptions>>(
                (directory, membership) => directory.RangeLeaseDuration = DeadSiloRangeLease(membership.Value));
        }
        silo.AddActivityPropagation();
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            // Defaults take ~15 s to declare a killed silo dead; runs it hosted wait that long to be re-driven.
            o.ProbeTimeout = TimeSpan.FromSeconds(1);
            o.NumMissedProbesLimit = 2;
            o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
        });
        silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(30));
        return silo;
    }

    /// <summary>
    /// The distributed directory's <see cref="GrainDirectoryOptions.RangeLeaseDuration"/>: how long after a silo's
    /// estimated failure its grains (and new grains of the directory ranges it owned) may not be activated elsewhere,
    /// so that a silo declared dead while still running has stopped first. Orleans starts the hold when the silo is
    /// declared dead and lets it last this value minus the failure-detection window (<c>MaxProbeTimeout</c> ×
    /// <c>NumMissedProbesLimit</c>). Orleans' default of 30 s left 22 s with the probes configured here, so a killed
    /// Worker's runs waited ~24 s for recovery instead of the ~6 s of their claim. The hold is kept to two membership
    /// table refreshes after the declaration: a silo wrongly declared dead reads its own death at its next refresh and
    /// stops itself.
    /// </summary>
    /// <param name="membership">The membership options (probes, table refresh).</param>
    /// <returns>The range lease duration.</returns>
    internal static TimeSpan DeadSiloRangeLease(ClusterMembershipOptions membership)
        => (membership.MaxProbeTimeout * membership.NumMissedProbesLimit) + (membership.TableRefreshTimeout * 2);

    /// <summary>
    /// Configures an Orleans client: Redis clustering, and a connection deadline after which starting the client
    /// fails with a clear error instead of retrying forever (<see cref="DurableAgentsClientOptions.ConnectTimeout"/>,
    /// registered by <c>AddDurableAgentsClient</c>).
    /// </summary>
    /// <param name="client">The client builder.</param>
    /// <param name="connectionString">The Redis connection string.</param>
    /// <param name="clusterId">The cluster (and service) id the workers use.</param>
    /// <returns>The client builder.</returns>
    public static IClientBuilder UseDurableAgentsRedis(this IClientBuilder client, string connectionString, string clusterId = DefaultClusterId)
    {
        ArgumentNullException.ThrowIfNull(client);
        var redis = JoinCluster(client.Services, client.Configuration, connectionString, clusterId);
        client.UseRedisClustering(o => o.ConfigurationOptions = redis.Clone());
        client.AddActivityPropagation();
        // Learn about restarted or added workers' gateways within seconds, not the default minute.
        client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(2));
        client.Services.AddSingleton<IClientConnectionRetryFilter, ConnectDeadlineFilter>();
        return client;
    }

    /// <summary>
    /// Workers and clients of one system share the cluster and service id; returns the parsed Redis settings, with the
    /// CA of <see cref="RedisConnectionString.CaCertificateKey"/> trusted when the configuration sets it.
    /// </summary>
    private static StackExchange.Redis.ConfigurationOptions JoinCluster(IServiceCollection services, IConfiguration configuration, string connectionString, string clusterId)
    {
        services.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = clusterId;
            o.ServiceId = clusterId;
        });
        return RedisConnectionString.ApplySettings(RedisConnectionString.Parse(connectionString), configuration);
    }

    private sealed class ConnectDeadlineFilter(IOptions<DurableAgentsClientOptions> options, TimeProvider? time = null) : IClientConnectionRetryFilter
    {
        private readonly TimeProvider _time = time ?? TimeProvider.System;
        private DateTimeOffset? _firstFailure;

        public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
        {
            var now = _time.GetUtcNow();
            _firstFailure ??= now;
            if (now - _firstFailure.Value >= options.Value.ConnectTimeout)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
    }
}

using AgentStreaming.DurableAgents.Client;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.DurableAgents.Recovery;
using AgentStreaming.DurableAgents.Storage;
using Microsoft.Agents.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the durable agent runtime (worker side) and its client.</summary>
public static class DurableAgentsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the worker side: the agents, the run recovery service and the Redis response streams. Use with a
    /// silo configured by <c>UseDurableAgentsRedis</c>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Registers agents and sets options.</param>
    /// <returns>A builder to register more agents on.</returns>
    public static DurableAgentsBuilder AddDurableAgents(this IServiceCollection services, Action<DurableAgentsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<DurableAgentsOptions>().BindConfiguration(DurableAgentsOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DurableAgentsOptions>, DurableAgentsOptionsValidator>());
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddRedisAgentStreaming();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(provider => new RunLeaseStore(
            provider.GetRequiredService<IConnectionMultiplexer>(),
            provider.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId,
            provider.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(provider => new ConversationHistoryStore(
            provider.GetRequiredService<IConnectionMultiplexer>(),
            provider.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId,
            provider.GetService<AgentStreaming.Streaming.Resilience.RedisReplicaAcks>()));
        services.TryAddSingleton(provider => new ConversationIndex(
            provider.GetRequiredService<IConnectionMultiplexer>(),
            provider.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId));
        services.TryAddSingleton(provider => new RunIndex(provider.GetRequiredService<IConnectionMultiplexer>()));
        services.AddHostedService<RunRecoveryService>();
        services.TryAddSingleton(provider => new DurableAgentClient(
            provider.GetRequiredService<IGrainFactory>(),
            provider.GetRequiredService<AgentStreaming.Streaming.Streams.IAgentStreamReader>(),
            provider.GetRequiredService<RunIndex>(),
            provider.GetRequiredService<ConversationIndex>()));
        return new DurableAgentsBuilder(services);
    }

    /// <summary>
    /// Registers the client side: <see cref="DurableAgentClient"/> (whose <c>GetAgent</c> gives the durable agents as
    /// Agent Framework <c>AIAgent</c>s), the Redis stream reader and <see cref="DurableAgentsClientOptions"/> (section
    /// <c>DurableAgents:Client</c>, validated at start). Use with an Orleans client configured by
    /// <c>UseDurableAgentsRedis</c>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddDurableAgentsClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddRedisAgentStreaming();
        services.AddOptions<DurableAgentsClientOptions>().BindConfiguration(DurableAgentsClientOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DurableAgentsClientOptions>, DurableAgentsClientOptionsValidator>());
        services.TryAddSingleton(provider => new RunIndex(provider.GetRequiredService<IConnectionMultiplexer>()));
        services.TryAddSingleton(provider => new ConversationIndex(
            provider.GetRequiredService<IConnectionMultiplexer>(),
            provider.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId));
        services.TryAddSingleton(provider => new DurableAgentClient(
            provider.GetRequiredService<IClusterClient>(),
            provider.GetRequiredService<AgentStreaming.Streaming.Streams.IAgentStreamReader>(),
            provider.GetRequiredService<RunIndex>(),
            provider.GetRequiredService<ConversationIndex>(),
            provider.GetRequiredService<IOptions<DurableAgentsClientOptions>>().Value.CallRetryTimeout));
        return services;
    }

    /// <summary>
    /// Registers a <see cref="DurableAgentClient"/> that needs Redis only, no Orleans client and no Worker: its agents
    /// resume runs' streams with continuation tokens (<c>RunStreamingAsync</c>); starting, polling and cancelling runs
    /// need <see cref="AddDurableAgentsClient"/>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddDurableAgentsStreamClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddRedisAgentStreaming();
        services.TryAddSingleton(provider => new RunIndex(provider.GetRequiredService<IConnectionMultiplexer>()));
        services.TryAddSingleton(provider => new DurableAgentClient(
            provider.GetRequiredService<AgentStreaming.Streaming.Streams.IAgentStreamReader>(),
            provider.GetRequiredService<RunIndex>()));
        return services;
    }
}

/// <summary>Registers agents on the durable runtime.</summary>
public sealed class DurableAgentsBuilder
{
    internal DurableAgentsBuilder(IServiceCollection services) => Services = services;

    /// <summary>The services.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Registers an agent by name.</summary>
    /// <param name="name">The name clients use, e.g. <c>TravelPlanner</c>.</param>
    /// <param name="factory">Creates the agent for a run.</param>
    /// <returns>This builder.</returns>
    public DurableAgentsBuilder AddAgent(string name, Func<IServiceProvider, AIAgent> factory)
    {
        _ = AgentStreaming.DurableAgents.DurableAgentNames.ConversationKey(name, "x");
        ArgumentNullException.ThrowIfNull(factory);
        Services.Configure<DurableAgentsOptions>(o => o.AddAgent(name, factory));
        return this;
    }
}

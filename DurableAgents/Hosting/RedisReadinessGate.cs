using System.Diagnostics;
using AgentStreaming.DurableAgents.Diagnostics;
using AgentStreaming.Streaming.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Hosting;

/// <summary>
/// Holds a silo's start until Redis is ready, by Streaming.Core's <see cref="RedisHealthCheck"/> (a server answers
/// <c>PING</c>; on a cluster every hash slot has a primary that answers): a Redis that is still loading its data after
/// a restart (<c>LOADING</c>), failing over or not up yet would otherwise fail the membership table's first read, and
/// with it the silo and the process. Gives up after <see cref="Timeout"/> with a message that says what to check.
/// </summary>
internal sealed class RedisReadinessGate : ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly TimeSpan LogEvery = TimeSpan.FromSeconds(5);
    private readonly ConfigurationOptions _redis;
    private readonly ILogger _logger;

    public RedisReadinessGate(ConfigurationOptions redis, ILogger<RedisReadinessGate> logger)
    {
        _redis = redis;
        _logger = logger;
    }

    /// <summary>How long a silo waits for Redis before its start fails: 2 minutes.</summary>
    public static TimeSpan Timeout { get; } = TimeSpan.FromMinutes(2);

    /// <summary>How often Redis is asked while the silo waits.</summary>
    public static TimeSpan Interval { get; } = TimeSpan.FromMilliseconds(250);

    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe(nameof(RedisReadinessGate), ServiceLifecycleStage.RuntimeInitialize, WaitAsync);

    internal async Task WaitAsync(CancellationToken cancellationToken)
    {
        var options = _redis.Clone();
        options.AbortOnConnectFail = false;
        await using var connection = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        var check = new RedisHealthCheck(connection);
        var context = new HealthCheckContext { Registration = new HealthCheckRegistration("redis", check, HealthStatus.Unhealthy, tags: null) };
        var waited = Stopwatch.StartNew();
        var logged = TimeSpan.MinValue;
        while (true)
        {
            var result = await check.CheckHealthAsync(context, cancellationToken).ConfigureAwait(false);
            if (result.Status == HealthStatus.Healthy)
            {
                if (logged != TimeSpan.MinValue)
                {
                    DurableAgentsLog.RedisReady(_logger, waited.Elapsed.TotalSeconds);
                }

                return;
            }

            var problem = result.Description ?? "Redis is not ready";
            if (waited.Elapsed >= Timeout)
            {
                throw new InvalidOperationException(
                    $"Redis was not ready within {Timeout.TotalMinutes:0} minutes ({problem}); the silo does not start without it. Check that Redis is running and that the Worker's connection string (ConnectionStrings:redis) names it.");
            }

            if (logged == TimeSpan.MinValue || waited.Elapsed - logged >= LogEvery)
            {
                DurableAgentsLog.WaitingForRedis(_logger, waited.Elapsed.TotalSeconds, problem);
                logged = waited.Elapsed;
            }

            await Task.Delay(Interval, cancellationToken).ConfigureAwait(false);
        }
    }
}

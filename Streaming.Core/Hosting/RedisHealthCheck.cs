using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Hosting;

/// <summary>
/// Readiness of the Worker's Redis on any topology, with the ordinary (non-admin) connection the Worker already has:
/// on a single server (TLS or not) a <c>PING</c>; on Redis Cluster, every one of the 16,384 hash slots must route to a
/// connected primary (by the slot map the multiplexer routes by) and every such primary must answer <c>PING</c>.
/// </summary>
/// <remarks>
/// It replaces the check of <c>AspNetCore.HealthChecks.Redis</c> (which <c>AddRedisClient</c> adds), which on a cluster
/// sends <c>CLUSTER INFO</c>: StackExchange.Redis refuses that command unless the connection has <c>allowAdmin</c>, so
/// a Worker on a cluster was never healthy. When the slot map names a primary that is gone (killed, its replica not
/// yet seen as promoted), the check answers Unhealthy and asks the multiplexer to reload the cluster's topology, so the
/// next probe sees the replica that took over rather than waiting for the multiplexer's periodic reload.
/// </remarks>
public sealed class RedisHealthCheck : IHealthCheck
{
    private const int SlotCount = 16384;
    private readonly IConnectionMultiplexer _multiplexer;
    private int _reloading;

    /// <summary>Creates the check on the application's shared connection.</summary>
    /// <param name="multiplexer">The connection.</param>
    public RedisHealthCheck(IConnectionMultiplexer multiplexer)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        _multiplexer = multiplexer;
    }

    /// <inheritdoc/>
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            if (!_multiplexer.GetServers().Any(s => s.ServerType == ServerType.Cluster))
            {
                var latency = await _multiplexer.GetDatabase().PingAsync().ConfigureAwait(false);
                return HealthCheckResult.Healthy($"Redis answered PING in {latency.TotalMilliseconds:0.0} ms.");
            }

            return await CheckClusterAsync(context).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"Redis did not answer: {ex.Message}", ex);
        }
    }

    private async Task<HealthCheckResult> CheckClusterAsync(HealthCheckContext context)
    {
        // The slot map the multiplexer routes by: the last CLUSTER NODES it read itself (no admin command needed).
        var servers = _multiplexer.GetServers();
        var configuration = servers.Where(s => s.IsConnected).Select(s => s.ClusterConfiguration).FirstOrDefault(c => c is not null);
        if (configuration is null)
        {
            ReloadTopology();
            return new HealthCheckResult(context.Registration.FailureStatus, "The Redis Cluster's slot map is not known yet (no node connected).");
        }

        var owners = configuration.Nodes.Where(n => !n.IsReplica && n.Slots.Count > 0).ToList();
        var served = owners.Sum(n => n.Slots.Sum(r => r.To - r.From + 1));
        var down = owners.Where(n => n.IsFail || n.EndPoint is null || servers.FirstOrDefault(s => Equals(s.EndPoint, n.EndPoint)) is not { IsConnected: true })
            .Select(n => n.EndPoint?.ToString() ?? n.NodeId)
            .ToList();
        if (served < SlotCount || down.Count > 0)
        {
            ReloadTopology();
            return new HealthCheckResult(
                context.Registration.FailureStatus,
                down.Count > 0
                    ? $"Redis Cluster primaries are down: {string.Join(", ", down)} (no replica has taken over their hash slots yet)."
                    : $"Only {served} of {SlotCount} Redis Cluster hash slots have a primary (the cluster is still forming).");
        }

        var pings = owners.Select(async node =>
        {
            try
            {
                await _multiplexer.GetServer(node.EndPoint!).PingAsync().ConfigureAwait(false);
                return null;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                return $"{node.EndPoint}: {ex.Message}";
            }
        }).ToArray();
        var failures = (await Task.WhenAll(pings).ConfigureAwait(false)).OfType<string>().ToArray();
        if (failures.Length > 0)
        {
            ReloadTopology();
            return new HealthCheckResult(context.Registration.FailureStatus, $"Redis Cluster primaries did not answer PING: {string.Join("; ", failures)}");
        }

        return HealthCheckResult.Healthy($"{owners.Count} Redis Cluster primaries serve all {SlotCount} hash slots and answered PING.");
    }

    private void ReloadTopology()
    {
        if (Interlocked.Exchange(ref _reloading, 1) == 1)
        {
            return;
        }

        // Not awaited: reconnecting to a dead endpoint can outlast the probe's timeout; the next probe sees the result.
        _ = Task.Run(async () =>
        {
            try
            {
                await _multiplexer.ConfigureAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // The next unhealthy probe tries again.
            }
            finally
            {
                Volatile.Write(ref _reloading, 0);
            }
        });
    }
}

using System.Globalization;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Hosting;

/// <summary>Adds a Redis Cluster of <c>redis-server</c> executable resources, for trying the scale-out path locally.</summary>
public static class RedisClusterBuilderExtensions
{
    /// <summary>
    /// Adds a Redis Cluster on loopback: <paramref name="primaries"/> primaries and as many replicas
    /// (<c>redis-server --cluster-enabled yes</c>, append-only), joined by a <c>{name}-create</c> resource that runs
    /// <c>redis-cli --cluster create … --cluster-replicas 1</c> once every node answers. The returned resource is the
    /// first node; its connection string names every node, and its health check (the <c>CLUSTER INFO</c> of every node,
    /// on an admin connection of the AppHost's own) passes once every node reports <c>cluster_state:ok</c>, so
    /// <c>WaitFor</c> on it waits for the whole cluster. Each other node, <c>{name}-1</c>…, has the same check for itself.
    /// The cluster is new on every run (its ports are picked at start, and <c>nodes.conf</c> records them): the folders
    /// under <paramref name="dataDirectory"/> are emptied first.
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="name">The resource and connection string name.</param>
    /// <param name="dataDirectory">The folder of the nodes' data folders (locked while the AppHost runs).</param>
    /// <param name="primaries">How many primaries (at least 3).</param>
    /// <returns>The first node, whose connection string names the whole cluster.</returns>
    /// <exception cref="DistributedApplicationException">Fewer than 3 primaries, <c>redis-server</c> or <c>redis-cli</c> is missing, or another AppHost holds the folder.</exception>
    public static IResourceBuilder<RedisServerResource> AddRedisCluster(this IDistributedApplicationBuilder builder, string name, string dataDirectory, int primaries)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (primaries < 3)
        {
            throw new DistributedApplicationException($"Redis:Cluster must be at least 3 (redis-cli --cluster create needs 3 primaries); it was {primaries}.");
        }

        var server = RedisServerBuilderExtensions.FindOnPath("redis-server")
            ?? throw new DistributedApplicationException($"redis-server was not found on PATH. {RedisServerBuilderExtensions.InstallHint}");
        var cli = RedisServerBuilderExtensions.FindOnPath("redis-cli")
            ?? throw new DistributedApplicationException($"redis-cli was not found on PATH (it comes with redis-server). {RedisServerBuilderExtensions.InstallHint}");
        dataDirectory = Path.GetFullPath(dataDirectory);
        Directory.CreateDirectory(dataDirectory);
        builder.Services.AddSingleton(DataDirectoryLock.Acquire(dataDirectory));
        foreach (var old in Directory.GetDirectories(dataDirectory, "node-*"))
        {
            Directory.Delete(old, recursive: true);
        }

        var ports = new HashSet<int>();
        while (ports.Count < primaries * 2)
        {
            ports.Add(RedisServerBuilderExtensions.FreeLoopbackPort());
        }

        var nodes = ports.Select(p => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{p}")).ToList();
        var create = builder.AddExecutable($"{name}-create", "/bin/sh", dataDirectory, "-c", CreateScript(cli, ports, nodes))
            .WithIconName("DatabaseLink");
        IResourceBuilder<RedisServerResource>? first = null;
        foreach (var (port, i) in ports.Select((p, i) => (p, i)))
        {
            var folder = Directory.CreateDirectory(Path.Combine(dataDirectory, $"node-{i}")).FullName;
            var nodeName = i == 0 ? name : $"{name}-{i}";
            var resource = new RedisServerResource(nodeName, server, folder, i == 0 ? nodes : null);
            var healthCheckKey = $"{nodeName}_check";
            // An admin connection of the AppHost's own: CLUSTER INFO on every node it names must say cluster_state:ok.
            builder.Services.AddHealthChecks().AddRedis(
                string.Join(',', i == 0 ? nodes : [nodes[i]]) + ",allowAdmin=true,abortConnect=false,connectTimeout=2000",
                name: healthCheckKey);
            var node = builder.AddResource(resource)
                .WithEndpoint(port: port, targetPort: port, name: RedisServerResource.PrimaryEndpointName, scheme: "tcp", isProxied: false)
                .WithArgs(
                [
                    .. RedisServerBuilderExtensions.ServerArgs(port, folder),
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", Path.Combine(folder, "nodes.conf"),
                    "--cluster-node-timeout", "5000",
                ])
                .WithHealthCheck(healthCheckKey)
                .WithIconName("Database");
            create.WaitForStart(node);
            first ??= node;
        }

        return first!;
    }

    /// <summary>Waits (30 s at most) until every node answers PING, then creates the cluster.</summary>
    private static string CreateScript(string cli, IEnumerable<int> ports, IEnumerable<string> nodes) =>
        string.Create(CultureInfo.InvariantCulture, $"""
            for p in {string.Join(' ', ports)}; do
              n=0
              until {cli} -p "$p" ping >/dev/null 2>&1; do
                n=$((n+1)); if [ "$n" -gt 300 ]; then echo "redis-server on port $p did not answer PING within 30 s" >&2; exit 1; fi
                sleep 0.1
              done
            done
            exec {cli} --cluster create {string.Join(' ', nodes)} --cluster-replicas 1 --cluster-yes
            """);
}

using Microsoft.Extensions.Configuration;

namespace AgentStreaming.AppHost;

/// <summary>The AppHost's own settings (command line <c>--Key=value</c>, environment <c>Key__Sub</c>, or appsettings).</summary>
internal static class AppHostSettings
{
    /// <summary>The prompt of the demo Client's one run.</summary>
    public const string DefaultDemoPrompt = "Plan a 3-day trip to Tokyo with emphasis on culture and food";

    /// <summary><c>Redis:DataDirectory</c>: where redis-server keeps its append-only file (default <c>.apphost/redis</c> in the repository).</summary>
    public static string RedisDataDirectory(IDistributedApplicationBuilder builder) =>
        builder.Configuration["Redis:DataDirectory"] is { Length: > 0 } configured
            ? Path.GetFullPath(configured)
            : Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", ".apphost", "redis"));

    /// <summary>
    /// <c>Redis:Cluster</c>: when set (3 or more), a local Redis Cluster of that many primaries and as many replicas
    /// instead of one redis-server, its nodes' data under <c>Redis:DataDirectory</c> (default <c>.apphost/redis-cluster</c>).
    /// </summary>
    public static int? RedisCluster(IDistributedApplicationBuilder builder) => builder.Configuration.GetValue<int?>("Redis:Cluster");

    /// <summary>Where the cluster's nodes keep their data (<c>Redis:DataDirectory</c>, default <c>.apphost/redis-cluster</c>).</summary>
    public static string RedisClusterDataDirectory(IDistributedApplicationBuilder builder) =>
        builder.Configuration["Redis:DataDirectory"] is { Length: > 0 } configured
            ? Path.GetFullPath(configured)
            : Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", ".apphost", "redis-cluster"));

    /// <summary><c>Redis:Port</c>: redis-server's port (default: a free one).</summary>
    public static int? RedisPort(IDistributedApplicationBuilder builder) => builder.Configuration.GetValue<int?>("Redis:Port");

    /// <summary><c>Worker:Replicas</c>: how many Worker processes form the cluster (default 1).</summary>
    public static int WorkerReplicas(IDistributedApplicationBuilder builder)
    {
        var replicas = builder.Configuration.GetValue("Worker:Replicas", 1);
        return replicas >= 1
            ? replicas
            : throw new DistributedApplicationException($"Worker:Replicas must be at least 1 (was {replicas}).");
    }

    /// <summary><c>Client:Enabled</c>: whether the demo Client runs (default true).</summary>
    public static bool DemoClientEnabled(IDistributedApplicationBuilder builder) => builder.Configuration.GetValue("Client:Enabled", true);

    /// <summary>
    /// How long the demo Client waits for a Worker's gateway. It starts next to the Worker rather than after it, so
    /// this covers the Worker's whole start-up on a slow machine.
    /// </summary>
    public static readonly TimeSpan ClientConnectTimeout = TimeSpan.FromMinutes(2);

    /// <summary><c>Client:Prompt</c>: what the demo Client asks.</summary>
    public static string DemoPrompt(IDistributedApplicationBuilder builder) =>
        builder.Configuration["Client:Prompt"] is { Length: > 0 } prompt ? prompt : DefaultDemoPrompt;

    /// <summary>The Aspire dashboard's address (the launch profile's <c>applicationUrl</c>), or <see langword="null"/> when it does not run.</summary>
    public static string? DashboardUrl(IDistributedApplicationBuilder builder) =>
        builder.Configuration["ASPNETCORE_URLS"]?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
}

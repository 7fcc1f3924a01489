using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using AgentStreaming.AppHost;
using AgentStreaming.AppHost.Lifetime;

var builder = DistributedApplication.CreateBuilder(args);
builder.Services.AddHostedService<LauncherExitWatcher>();

// An existing Redis when ConnectionStrings:redis is set; a local Redis Cluster with --Redis:Cluster=3; otherwise a
// local redis-server with its data in .apphost/redis.
var redis = builder.Configuration.GetConnectionString("redis") is { Length: > 0 }
    ? builder.AddConnectionString("redis")
    : AppHostSettings.RedisCluster(builder) is { } primaries
        ? builder.AddRedisCluster("redis", AppHostSettings.RedisClusterDataDirectory(builder), primaries).AsConnectionString()
        : builder.AddRedisServer("redis", AppHostSettings.RedisDataDirectory(builder), AppHostSettings.RedisPort(builder)).AsConnectionString();

var worker = builder.AddProject<Projects.Worker>("worker")
    .WithReference(redis)
    .WaitFor(redis)
    .WithHttpEndpoint()
    .WithReplicas(AppHostSettings.WorkerReplicas(builder))
    .WithHttpHealthCheck("/health")
    .WithAgentPages(builder)
    .WithGenAIMessageContentInDevelopment(builder)
    .WithDemoRunCommand();

if (AppHostSettings.DemoClientEnabled(builder))
{
    // The Client waits for Redis, then its Orleans client waits for a Worker's gateway: the two start side by side.
    builder.AddProject<Projects.Client>("client")
        .WithReference(redis)
        .WithReference(worker)
        .WaitFor(redis)
        .WithEnvironment("DurableAgents__Client__ConnectTimeout", AppHostSettings.ClientConnectTimeout.ToString())
        .WithArgs("--prompt", AppHostSettings.DemoPrompt(builder));
}

builder.Build().Run();

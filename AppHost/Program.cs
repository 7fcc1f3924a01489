using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using AgentStreaming.AppHost;
using AgentStreaming.AppHost.Lifetime;

var builder = DistributedApplication.CreateBuilder(args).WithAnonymousDashboardPages();
builder.Services.AddHostedService<LauncherExitWatcher>();

// An existing Redis when ConnectionStrings:redis is set; a local Redis Cluster with --Redis:Cluster=3; otherwise a
// local redis-server with its data in .apphost/redis.
var redis = builder.Configuration.GetConnectionString("redis") is { Length: > 0 }
    ? builder.AddConnectionString("redis")
    : AppHostSettings.RedisCluster(builder) is { } primaries
        ? builder.AddRedisCluster("redis", AppHostSettings.RedisClusterDataDirectory(builder), primaries).AsConnectionString()
        : builder.AddRedisServer("redis", AppHostSettings.RedisDataDirectory(builder), AppHostSettings.RedisPort(builder)).AsConnectionString();

// The Worker trusts tokens signed with a development key; the demo user's token opens the pages and the demo command.
var signingKey = DevelopmentIdentity.SigningKey(builder.Configuration);
var demoToken = DevelopmentIdentity.Mint(signingKey);
var operatorToken = DevelopmentIdentity.Mint(signingKey, DevelopmentIdentity.Operator, DevelopmentIdentity.AdminRole);

var worker = builder.AddProject<Projects.Worker>("worker")
    .WithReference(redis)
    .WaitFor(redis)
    .WithHttpEndpoint()
    .WithoutDevelopmentCertificate()
    .WithReplicas(AppHostSettings.WorkerReplicas(builder))
    .WithHttpHealthCheck("/health")
    .WithDevelopmentIdentity(signingKey)
    .WithAgentPages(builder, demoToken)
    .WithGenAIMessageContentInDevelopment(builder)
    .WithDemoRunCommand(demoToken)
    .WithKillReplicaCommand(operatorToken);

if (AppHostSettings.RedisCluster(builder) is not null && builder.Configuration.GetConnectionString("redis") is not { Length: > 0 })
{
    // The local cluster has a replica per primary: a write counts once its replica has it, so killing a primary loses
    // nothing a reader was given (AgentStreaming:Redis:ReplicaAcks).
    worker.WithEnvironment("AgentStreaming__Redis__ReplicaAcks", "1");
}

if (AppHostSettings.DemoClientEnabled(builder))
{
    // The Client waits for Redis, then its Orleans client waits for a Worker's gateway: the two start side by side.
    builder.AddProject<Projects.Client>("client")
        .WithReference(redis)
        .WithReference(worker)
        .WithoutDevelopmentCertificate()
        .WaitFor(redis)
        .WithEnvironment("DurableAgents__Client__ConnectTimeout", AppHostSettings.ClientConnectTimeout.ToString())
        .WithEnvironment("Client__Principal", DevelopmentIdentity.DemoUser)
        .WithArgs("--prompt", AppHostSettings.DemoPrompt(builder));
}

builder.Build().Run();

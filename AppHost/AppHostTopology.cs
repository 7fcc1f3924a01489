using AgentStreaming.AppHost.Hosting;

namespace AgentStreaming.AppHost;

/// <summary>The system's topology: Redis, the Worker(s) and the demo Client.</summary>
public static class AppHostTopology
{
    /// <summary>The prompt the demo Client runs.</summary>
    public const string DemoPrompt = "Plan a 3-day trip to Tokyo with emphasis on culture and food";

    /// <summary>Declares the resources on a builder (the AppHost's Program and the testing builder share it).</summary>
    /// <param name="builder">The builder.</param>
    public static void Configure(DistributedApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var config = builder.Configuration;

        var redis = builder.AddRedis("redis");

        var worker = builder.AddProject("worker", "Worker", "AgentStreaming.Worker.dll")
            .WithReference(redis)
            .WaitFor(redis)
            .WithHttpEndpoint()
            .WithReplicas(config.GetValue("Worker:Replicas", 1));
        foreach (var variable in config.GetSection("Worker:Environment").GetChildren())
        {
            worker.WithEnvironment(variable.Key, variable.Value ?? string.Empty);
        }

        if (config.GetValue("Client:Enabled", true))
        {
            var client = builder.AddProject("client", "Client", "AgentStreaming.Client.dll")
                .WithReference(redis)
                .WaitFor(worker)
                .WithArgs("--prompt", config["Client:Prompt"] ?? DemoPrompt)
                .AsJob();
            if (config.GetValue("Client:EchoConsole", true))
            {
                client.WithConsoleEcho();
            }
        }
    }
}

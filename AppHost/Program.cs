using AgentStreaming.AppHost;
using AgentStreaming.AppHost.Hosting;

var builder = DistributedApplication.CreateBuilder(args);
AppHostTopology.Configure(builder);

try
{
    await using var app = builder.Build();
    await AppHostConsole.RunAsync(app);
}
catch (AppHostException ex)
{
    Console.Error.WriteLine($"AppHost: {ex.Message}");
    return 1;
}

return 0;

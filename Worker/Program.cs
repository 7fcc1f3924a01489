using AgentStreaming.DurableAgents;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Worker.Hosting;
using AgentStreaming.Worker.Agents;
using AgentStreaming.Worker.Models;
using Microsoft.Extensions.AI;
using Orleans.Dashboard;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Logging.AddFilter("Polly", LogLevel.Warning);
builder.Logging.AddFilter("Orleans.Runtime.SiloOptionsLogger", LogLevel.Warning);

var redis = WorkerSettings.RedisConnectionString(builder.Configuration);
// One multiplexer for the streams, the API and the health check, with Aspire's Redis tracing. Aspire's own Redis
// check sends CLUSTER INFO, which a non-admin connection may not send: ours works on a single server and on a cluster.
builder.AddRedisClient("redis", settings =>
{
    settings.ConnectionString = redis;
    settings.DisableHealthChecks = true;
}, options => RedisConnectionString.ApplySettings(options, builder.Configuration));
builder.Services.AddHealthChecks().AddRedisAgentStreamingCheck();
var endpoints = WorkerSettings.SiloEndpoints(builder.Configuration);

builder.UseOrleans(silo =>
{
    silo.UseDurableAgentsRedis(redis, clusterId: builder.Configuration["Orleans:ClusterId"] ?? DurableAgentsOrleansExtensions.DefaultClusterId);
    silo.ConfigureEndpoints(endpoints.Advertised, endpoints.SiloPort, endpoints.GatewayPort, listenOnAnyHostAddress: false);
    if (WorkerSettings.OrleansDashboardEnabled(builder.Configuration))
    {
        silo.AddDashboard();
    }
});

builder.Services.AddTravelPlannerChatClient();
builder.Services.AddDurableAgents()
    .AddAgent(TravelPlannerAgent.Name, sp => TravelPlannerAgent.Create(sp.GetRequiredService<IChatClient>(), sp.GetService<ILoggerFactory>(), sp));
builder.Services.AddAgentApi(builder.Configuration);
builder.Services.AddSingleton<AgentStreaming.Worker.Security.OrleansDashboardGuard>();
builder.Services.AddOpenAIResponses();
builder.Services.AddAgentPages();

var app = builder.Build();

app.MapDefaultEndpoints();
if (WorkerSettings.OrleansDashboardEnabled(builder.Configuration))
{
    // Admins only (the access middleware); its failures on odd input answered as problem details.
    app.UseMiddleware<AgentStreaming.Worker.Security.OrleansDashboardGuard>();
    app.MapOrleansDashboard(AgentStreaming.Worker.Security.OrleansDashboardGuard.Path);
}

app.UseDefaultFiles();
app.UseStaticFiles();
app.MapAgentApi();
app.MapOpenAIResponses();
app.MapAgentPages();
app.MapGet("/", (ChatModelSelection model) => Results.Ok(new
{
    service = "AgentStreaming.Worker",
    agents = new[] { TravelPlannerAgent.Name },
    model = model.Description,
    siloPort = endpoints.SiloPort,
    gatewayPort = endpoints.GatewayPort,
    processId = Environment.ProcessId,
}));

app.Lifetime.ApplicationStarted.Register(() =>
{
    var model = app.Services.GetRequiredService<ChatModelSelection>();
    var urls = string.Join(", ", app.Urls);
    WorkerLog.Started(app.Logger, model.Description, endpoints.SiloPort, endpoints.GatewayPort, urls);
    AgentApiAccessLog(app);
});

app.Run();

static void AgentApiAccessLog(WebApplication app)
{
    var access = app.Services.GetRequiredService<AgentStreaming.Worker.Security.AgentApiAccessMiddleware>();
    if (access.IsOpen)
    {
        WorkerLog.RunsOpen(app.Logger);
        return;
    }

    var mode = app.Services.GetRequiredService<AgentStreaming.Worker.Security.AgentApiAccessMode>();
    WorkerLog.RunsAuthenticated(app.Logger, mode.Jwt ? "JWT bearer tokens and API keys" : "API keys");
}

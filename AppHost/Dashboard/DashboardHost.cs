using AgentStreaming.AppHost.Hosting;
using AgentStreaming.AppHost.Otlp;

namespace AgentStreaming.AppHost.Dashboard;

/// <summary>The dashboard's web host: the OTLP receiver and the JSON API the pages use.</summary>
internal static class DashboardHost
{
    public static WebApplication Build(DistributedApplication app)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(app.DashboardUrl);
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(app);
        builder.Services.AddSingleton(app.Telemetry);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter()));
        var web = builder.Build();
        web.MapOtlpReceiver();
        web.MapDashboardApi();
        return web;
    }
}

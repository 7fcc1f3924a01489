using AgentStreaming.AppHost.Hosting;
using AgentStreaming.AppHost.Otlp;
using Microsoft.Extensions.FileProviders;

namespace AgentStreaming.AppHost.Dashboard;

/// <summary>
/// The dashboard's web host: the OTLP receiver, the JSON API and live feeds, and the pages (static files from
/// <c>Dashboard/wwwroot</c> next to the AppHost's assembly). Binds to loopback unless <c>Dashboard:Host</c> says
/// otherwise, and answers only requests addressed to a loopback name or one listed in <c>Dashboard:AllowedHosts</c>
/// (so a web page cannot reach it by DNS rebinding).
/// </summary>
internal static class DashboardHost
{
    /// <summary>The header every state-changing API request must carry (cross-site forms cannot set it).</summary>
    public const string RequestHeader = "X-Dashboard-Request";

    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'";

    public static WebApplication Build(DistributedApplication app)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(app.DashboardUrl);
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(app);
        builder.Services.AddSingleton(app.Telemetry);
        builder.Services.AddSingleton<DashboardRedis>();
        builder.Services.AddSingleton<DashboardAgentApi>();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter()));
        var web = builder.Build();

        var allowedHosts = AllowedHosts(app);
        web.Use(async (context, next) =>
        {
            // OTLP exporters may address the receiver by any name when it is bound beyond loopback.
            if (!allowedHosts.Contains(context.Request.Host.Host) && !context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal))
            {
                context.Response.StatusCode = StatusCodes.Status421MisdirectedRequest;
                return;
            }

            if (context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal)
                && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method)
                && string.IsNullOrEmpty(context.Request.Headers[RequestHeader]))
            {
                await Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Missing " + RequestHeader,
                    detail: $"Actions need the {RequestHeader} header (it keeps other sites' forms from posting here).").ExecuteAsync(context);
                return;
            }

            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.XFrameOptions = "DENY";
            await next(context);
        });

        var pages = Path.Combine(AppContext.BaseDirectory, "Dashboard", "wwwroot");
        if (Directory.Exists(pages))
        {
            var files = new PhysicalFileProvider(pages);
            web.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
            web.UseStaticFiles(new StaticFileOptions
            {
                FileProvider = files,
                OnPrepareResponse = r => r.Context.Response.Headers.CacheControl = "no-cache",
            });
        }

        web.MapOtlpReceiver();
        web.MapDashboardApi();
        return web;
    }

    private static HashSet<string> AllowedHosts(DistributedApplication app)
    {
        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "localhost", "127.0.0.1", "[::1]", "::1" };
        if (app.Configuration["Dashboard:Host"] is { Length: > 0 } host)
        {
            hosts.Add(host);
        }

        foreach (var extra in (app.Configuration["Dashboard:AllowedHosts"] ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            hosts.Add(extra);
        }

        return hosts;
    }
}

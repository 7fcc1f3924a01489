using AgentStreaming.AppHost.Hosting;

namespace AgentStreaming.Dashboard.Tests;

/// <summary>A DistributedApplication with no resources: only the dashboard and its OTLP receiver, on a free port.</summary>
internal sealed class DashboardOnly : IAsyncDisposable
{
    private DashboardOnly(DistributedApplication application)
    {
        Application = application;
        Http = new HttpClient { BaseAddress = new Uri(application.DashboardUrl), Timeout = TimeSpan.FromSeconds(30) };
    }

    public DistributedApplication Application { get; }

    public HttpClient Http { get; }

    public Uri Url => new(Application.DashboardUrl);

    public static async Task<DashboardOnly> StartAsync(IDictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase) { ["Dashboard:Port"] = "0", ["Environment"] = "Testing" };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var application = DistributedApplicationBuilder.CreateBuilder([], all).Build();
        await application.StartAsync();
        return new DashboardOnly(application);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Application.DisposeAsync();
    }
}

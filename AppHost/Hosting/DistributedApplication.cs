using System.Globalization;
using AgentStreaming.AppHost.Dashboard;
using AgentStreaming.AppHost.Otlp;

namespace AgentStreaming.AppHost.Hosting;

/// <summary>
/// The running topology: starts the dashboard (with its OTLP receiver), then each resource once the resources it
/// waits for are healthy, supervises them, and stops them all (newest first) on shutdown.
/// </summary>
public sealed class DistributedApplication : IAsyncDisposable
{
    private readonly DistributedApplicationBuilder _builder;
    private readonly List<(IResourceBuilder Declared, IReadOnlyList<ResourceInstance> Instances)> _resources = [];
    private readonly string _runChild = Path.Combine(AppContext.BaseDirectory, "Hosting", "run-child.sh");
    private WebApplication? _dashboard;
    private bool _started;
    private bool _stopped;

    internal DistributedApplication(DistributedApplicationBuilder builder)
    {
        _builder = builder;
        var port = int.TryParse(builder.Configuration["Dashboard:Port"], NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : 18888;
        DashboardPort = port == 0 ? DistributedApplicationBuilder.FreePort() : port;
        DashboardUrl = string.Create(CultureInfo.InvariantCulture, $"http://{builder.Configuration["Dashboard:Host"] ?? "127.0.0.1"}:{DashboardPort}");
        OtlpEndpoint = builder.Configuration["Dashboard:OtlpEndpoint"] ?? DashboardUrl;
        EnvironmentName = builder.Configuration["Environment"] ?? "Development";
        var limits = new TelemetryLimits();
        builder.Configuration.GetSection("Dashboard:Telemetry").Bind(limits);
        Telemetry = new TelemetryStore(limits);
    }

    /// <summary>The dashboard's URL.</summary>
    public string DashboardUrl { get; }

    /// <summary>The dashboard's port.</summary>
    public int DashboardPort { get; }

    /// <summary>Where services send OTLP (the dashboard's receiver unless <c>Dashboard:OtlpEndpoint</c> names another).</summary>
    public string OtlpEndpoint { get; }

    /// <summary>The environment name given to services.</summary>
    public string EnvironmentName { get; }

    /// <summary>The telemetry the dashboard received.</summary>
    public TelemetryStore Telemetry { get; }

    /// <summary>The AppHost's configuration.</summary>
    public IConfiguration Configuration => _builder.Configuration;

    internal HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>Every resource instance, in declaration order.</summary>
    public IReadOnlyList<ResourceInstance> Instances => _resources.SelectMany(r => r.Instances).ToList();

    /// <summary>Creates the builder (same as <see cref="DistributedApplicationBuilder.CreateBuilder(string[])"/>).</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>The builder.</returns>
    public static DistributedApplicationBuilder CreateBuilder(string[] args) => DistributedApplicationBuilder.CreateBuilder(args);

    /// <summary>An instance by name (<c>redis</c>, <c>worker-1</c>, <c>client</c>).</summary>
    /// <param name="name">The instance name.</param>
    /// <returns>The instance.</returns>
    /// <exception cref="KeyNotFoundException">No such instance.</exception>
    public ResourceInstance Instance(string name)
        => Instances.FirstOrDefault(i => i.Name == name) ?? throw new KeyNotFoundException($"No resource instance '{name}'. Known: {string.Join(", ", Instances.Select(i => i.Name))}.");

    /// <summary>The instances of a declared resource.</summary>
    /// <param name="resource">The resource name (<c>worker</c>).</param>
    /// <returns>Its instances.</returns>
    public IReadOnlyList<ResourceInstance> InstancesOf(string resource) => Instances.Where(i => i.Resource == resource).ToList();

    /// <summary>The connection string a resource gives to others.</summary>
    /// <param name="name">The resource name.</param>
    /// <returns>The connection string.</returns>
    public string? GetConnectionString(string name)
        => _builder.Resources.OfType<IResourceWithConnectionString>().FirstOrDefault(r => r.Name == name)?.ConnectionString;

    /// <summary>Starts the dashboard and every resource in dependency order; returns when all have started (jobs may still run).</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when everything started.</returns>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_started)
        {
            return;
        }

        _started = true;
        foreach (var declared in _builder.Resources)
        {
            _resources.Add((declared, declared.CreateInstances(this)));
        }

        _dashboard = DashboardHost.Build(this);
        await _dashboard.StartAsync(cancellationToken).ConfigureAwait(false);

        var started = new Dictionary<IResourceBuilder, Task>();
        foreach (var (declared, instances) in _resources)
        {
            started[declared] = StartResourceAsync(declared, instances, started, cancellationToken);
        }

        await Task.WhenAll(started.Values).ConfigureAwait(false);
    }

    private async Task StartResourceAsync(IResourceBuilder declared, IReadOnlyList<ResourceInstance> instances, Dictionary<IResourceBuilder, Task> started, CancellationToken cancellationToken)
    {
        if (declared.WaitsFor.Count > 0)
        {
            foreach (var instance in instances)
            {
                instance.SetState(ResourceState.Waiting);
            }

            foreach (var dependency in declared.WaitsFor)
            {
                await started[dependency].WaitAsync(cancellationToken).ConfigureAwait(false);
                // Healthy, not merely started: one healthy replica is enough to go on.
                var healthy = _resources.Single(r => r.Declared == dependency).Instances.Select(i => i.Healthy);
                await Task.WhenAny(healthy).Unwrap().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        foreach (var instance in instances)
        {
            await instance.StartAsync(_runChild).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until every instance of a resource is healthy.</summary>
    /// <param name="resource">The resource name.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <returns>A task that completes when they are.</returns>
    public async Task WaitForHealthyAsync(string resource, TimeSpan timeout)
    {
        var instances = InstancesOf(resource);
        try
        {
            await Task.WhenAll(instances.Select(i => i.Healthy)).WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            var states = string.Join(", ", instances.Select(i => $"{i.Name}: {i.State}"));
            throw new TimeoutException($"{resource} was not healthy within {timeout} ({states}). Last output:\n{string.Join('\n', instances.SelectMany(i => i.Console.After(0).TakeLast(30)).Select(l => l.Text))}");
        }
    }

    /// <summary>Kills an instance's process (SIGKILL, as a crash); its restart policy applies.</summary>
    /// <param name="name">The instance.</param>
    /// <returns>A task that completes when the process is gone.</returns>
    public Task KillAsync(string name) => Instance(name).KillAsync();

    /// <summary>Stops an instance gracefully; it stays stopped until started again.</summary>
    /// <param name="name">The instance.</param>
    /// <returns>A task that completes when it stopped.</returns>
    public Task StopResourceAsync(string name) => Instance(name).StopAsync(TimeSpan.FromSeconds(10));

    /// <summary>Starts a stopped instance.</summary>
    /// <param name="name">The instance.</param>
    /// <returns>A task that completes when its process started.</returns>
    public Task StartResourceAsync(string name) => Instance(name).StartAsync(_runChild);

    /// <summary>Stops an instance gracefully and starts it again.</summary>
    /// <param name="name">The instance.</param>
    /// <returns>A task that completes when its process started again.</returns>
    public async Task RestartResourceAsync(string name)
    {
        var instance = Instance(name);
        await instance.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await instance.StartAsync(_runChild).ConfigureAwait(false);
    }

    /// <summary>Runs until Ctrl+C (or SIGTERM), then stops everything.</summary>
    /// <param name="cancellationToken">Also stops it.</param>
    /// <returns>A task that completes when everything stopped.</returns>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        try
        {
            await StartAsync(stop.Token).ConfigureAwait(false);
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            await StopAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Stops every resource (newest first: client, workers, redis) and the dashboard.</summary>
    /// <returns>A task that completes when all processes are gone.</returns>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        foreach (var (_, instances) in Enumerable.Reverse(_resources))
        {
            await Task.WhenAll(instances.Select(i => i.StopAsync(TimeSpan.FromSeconds(10)))).ConfigureAwait(false);
            foreach (var instance in instances)
            {
                instance.Dispose();
            }
        }

        if (_dashboard is not null)
        {
            await _dashboard.StopAsync().ConfigureAwait(false);
            await _dashboard.DisposeAsync().ConfigureAwait(false);
        }

        Http.Dispose();
    }

    /// <summary>Stops everything.</summary>
    /// <returns>A task that completes when stopped.</returns>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}

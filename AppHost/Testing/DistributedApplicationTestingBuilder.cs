using System.Globalization;
using AgentStreaming.AppHost.Hosting;

namespace AgentStreaming.AppHost.Testing;

/// <summary>
/// Starts the AppHost's real topology for a test, in the spirit of Aspire's <c>DistributedApplicationTestingBuilder</c>:
/// the dashboard and Redis on free ports, Redis data in a temp folder of its own (deleted on dispose), every
/// service a real process.
/// </summary>
public sealed class DistributedApplicationTestingBuilder
{
    private readonly Dictionary<string, string?> _settings;
    private readonly string _dataDirectory;

    private DistributedApplicationTestingBuilder(string[] args)
    {
        Args = args;
        _dataDirectory = Directory.CreateTempSubdirectory("agent-streaming-apphost-").FullName;
        _settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Dashboard:Port"] = "0",
            ["Redis:Port"] = "0",
            ["Redis:DataDirectory"] = Path.Combine(_dataDirectory, "redis"),
            ["Environment"] = "Testing",
            // The demo Client's answer stays in its console log instead of the test's output.
            ["Client:EchoConsole"] = "false",
        };
    }

    /// <summary>Settings applied over appsettings, environment and command line (e.g. <c>Worker:Replicas</c>, <c>Client:Enabled</c>, <c>Worker:Environment:OfflineDemoModel__TokensPerSecond</c>).</summary>
    public IDictionary<string, string?> Settings => _settings;

    /// <summary>The command-line arguments.</summary>
    public string[] Args { get; }

    /// <summary>Creates a builder for the AppHost's topology.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>The builder.</returns>
    public static DistributedApplicationTestingBuilder Create(params string[] args) => new(args);

    /// <summary>Sets the number of Worker processes.</summary>
    /// <param name="replicas">How many.</param>
    /// <returns>This builder.</returns>
    public DistributedApplicationTestingBuilder WithWorkerReplicas(int replicas)
    {
        _settings["Worker:Replicas"] = replicas.ToString(CultureInfo.InvariantCulture);
        return this;
    }

    /// <summary>Sets an environment variable of every Worker process.</summary>
    /// <param name="name">The variable.</param>
    /// <param name="value">Its value.</param>
    /// <returns>This builder.</returns>
    public DistributedApplicationTestingBuilder WithWorkerEnvironment(string name, string value)
    {
        _settings[$"Worker:Environment:{name}"] = value;
        return this;
    }

    /// <summary>Leaves the demo Client out (tests that drive their own clients).</summary>
    /// <returns>This builder.</returns>
    public DistributedApplicationTestingBuilder WithoutClient()
    {
        _settings["Client:Enabled"] = "false";
        return this;
    }

    /// <summary>Builds the application (not started); disposing it stops every process and deletes the temp data.</summary>
    /// <returns>The application.</returns>
    public TestingApplication Build()
    {
        var builder = DistributedApplicationBuilder.CreateBuilder(Args, _settings);
        AppHostTopology.Configure(builder);
        return new TestingApplication(builder.Build(), _dataDirectory);
    }
}

/// <summary>A started-for-a-test AppHost application: the application plus the temp data it owns.</summary>
public sealed class TestingApplication : IAsyncDisposable
{
    private readonly string _dataDirectory;

    internal TestingApplication(DistributedApplication application, string dataDirectory)
    {
        Application = application;
        _dataDirectory = dataDirectory;
    }

    /// <summary>The application.</summary>
    public DistributedApplication Application { get; }

    /// <summary>Starts everything and waits until the given resources are healthy.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="resources">The resources to wait for (default: redis and worker).</param>
    /// <returns>A task that completes when they are healthy.</returns>
    public async Task StartAsync(TimeSpan timeout, params string[] resources)
    {
        using var cts = new CancellationTokenSource(timeout);
        await Application.StartAsync(cts.Token).ConfigureAwait(false);
        foreach (var resource in resources.Length == 0 ? ["redis", "worker"] : resources)
        {
            await Application.WaitForHealthyAsync(resource, timeout).ConfigureAwait(false);
        }
    }

    /// <summary>The connection string of a resource (e.g. <c>redis</c>).</summary>
    /// <param name="name">The resource.</param>
    /// <returns>The connection string.</returns>
    public string GetConnectionString(string name)
        => Application.GetConnectionString(name) ?? throw new KeyNotFoundException($"No connection string named '{name}'.");

    /// <summary>The HTTP endpoint of an instance (e.g. <c>worker-1</c>).</summary>
    /// <param name="instance">The instance.</param>
    /// <returns>Its base URL.</returns>
    public Uri GetEndpoint(string instance) => new(Application.Instance(instance).Endpoints["http"]);

    /// <summary>Stops everything and deletes the temp data.</summary>
    /// <returns>A task that completes when done.</returns>
    public async ValueTask DisposeAsync()
    {
        await Application.DisposeAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace AgentStreaming.AppHost.Hosting;

/// <summary>Declares the topology, Aspire-style: resources, their references and their start order.</summary>
public sealed class DistributedApplicationBuilder
{
    private readonly List<IResourceBuilder> _resources = [];

    internal DistributedApplicationBuilder(string[] args, IReadOnlyDictionary<string, string?>? overrides)
    {
        var configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args);
        if (overrides is not null)
        {
            configuration.AddInMemoryCollection(overrides);
        }

        Configuration = configuration.Build();
    }

    /// <summary>The AppHost's configuration (appsettings.json, environment, command line).</summary>
    public IConfiguration Configuration { get; }

    internal IReadOnlyList<IResourceBuilder> Resources => _resources;

    /// <summary>Creates a builder.</summary>
    /// <param name="args">Command-line arguments (<c>--Worker:Replicas=2</c> etc.).</param>
    /// <returns>The builder.</returns>
    public static DistributedApplicationBuilder CreateBuilder(string[] args) => new(args, null);

    internal static DistributedApplicationBuilder CreateBuilder(string[] args, IReadOnlyDictionary<string, string?> overrides) => new(args, overrides);

    /// <summary>
    /// Adds Redis: the one given by <c>ConnectionStrings:{name}</c> if configured, else a local <c>redis-server</c> the
    /// AppHost starts (port <c>Redis:Port</c> or a free one, data in <c>Redis:DataDirectory</c>, AOF on).
    /// </summary>
    /// <param name="name">The resource and connection string name.</param>
    /// <returns>The resource builder.</returns>
    public RedisResourceBuilder AddRedis(string name)
    {
        var builder = new RedisResourceBuilder(this, name);
        _resources.Add(builder);
        return builder;
    }

    /// <summary>Adds a .NET project of this repository, started as <c>dotnet {assembly}</c>.</summary>
    /// <param name="name">The resource name (also its <c>OTEL_SERVICE_NAME</c>).</param>
    /// <param name="projectFolder">The project's folder under the repository root, e.g. <c>Worker</c>.</param>
    /// <param name="assemblyName">The built assembly, e.g. <c>AgentStreaming.Worker.dll</c>.</param>
    /// <returns>The resource builder.</returns>
    public ProjectResourceBuilder AddProject(string name, string projectFolder, string assemblyName)
    {
        var builder = new ProjectResourceBuilder(this, name, projectFolder, assemblyName);
        _resources.Add(builder);
        return builder;
    }

    /// <summary>Builds the application.</summary>
    /// <returns>The application, not started.</returns>
    public DistributedApplication Build() => new(this);

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static string RepositoryRoot => Metadata("AgentStreaming.RepositoryRoot");

    internal static string BuildConfiguration => Metadata("AgentStreaming.Configuration");

    private static string Metadata(string key)
        => typeof(DistributedApplicationBuilder).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == key).Value!;
}

/// <summary>A declared resource.</summary>
public interface IResourceBuilder
{
    /// <summary>The resource name.</summary>
    string Name { get; }

    /// <summary>The resources it waits for.</summary>
    IReadOnlyList<IResourceBuilder> WaitsFor { get; }

    /// <summary>Creates its instances (replicas) for an application.</summary>
    internal IReadOnlyList<ResourceInstance> CreateInstances(DistributedApplication app);
}

/// <summary>A resource that gives a connection string to the resources that reference it.</summary>
public interface IResourceWithConnectionString : IResourceBuilder
{
    /// <summary>The connection string (known once the application was built).</summary>
    string? ConnectionString { get; }
}

/// <summary>Redis, started locally or given by connection string.</summary>
public sealed class RedisResourceBuilder : IResourceWithConnectionString
{
    private readonly DistributedApplicationBuilder _builder;

    internal RedisResourceBuilder(DistributedApplicationBuilder builder, string name)
    {
        _builder = builder;
        Name = name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public IReadOnlyList<IResourceBuilder> WaitsFor => [];

    /// <inheritdoc />
    public string? ConnectionString { get; private set; }

    /// <summary>Whether the AppHost starts redis-server itself (no connection string configured).</summary>
    public bool IsEmbedded => string.IsNullOrWhiteSpace(_builder.Configuration.GetConnectionString(Name));

    /// <summary>The data directory of the embedded server.</summary>
    public string DataDirectory => Path.GetFullPath(_builder.Configuration["Redis:DataDirectory"] ?? Path.Combine(DistributedApplicationBuilder.RepositoryRoot, ".apphost", "redis"));

    IReadOnlyList<ResourceInstance> IResourceBuilder.CreateInstances(DistributedApplication app)
    {
        if (!IsEmbedded)
        {
            ConnectionString = _builder.Configuration.GetConnectionString(Name)!;
            return [new ResourceInstance(Name, Name, "external", null, null, RestartPolicy.Never, false, new Dictionary<string, string> { ["connection"] = Redact(ConnectionString) })];
        }

        var executable = FindRedisServer();
        var port = int.TryParse(_builder.Configuration["Redis:Port"], NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p > 0 ? p : DistributedApplicationBuilder.FreePort();
        Directory.CreateDirectory(DataDirectory);
        ConnectionString = string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{port}");
        var info = new ProcessStartInfo(executable) { WorkingDirectory = DataDirectory };
        foreach (var argument in new[]
        {
            "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", DataDirectory,
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", string.Empty, "--protected-mode", "no", "--daemonize", "no",
        })
        {
            info.ArgumentList.Add(argument);
        }

        return
        [
            new ResourceInstance(Name, Name, "redis", info, ct => PingAsync(port, ct), RestartPolicy.OnFailure, false,
                new Dictionary<string, string> { ["tcp"] = ConnectionString, ["data"] = DataDirectory }),
        ];
    }

    private static string FindRedisServer()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/usr/sbin").Split(':').Append("/usr/sbin").Append("/usr/bin"))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new AppHostException(
            "redis-server is not installed. On Debian or Ubuntu: sudo apt-get install -y redis-server — " +
            "or point the AppHost at an existing Redis: ConnectionStrings__redis=host:6379 dotnet run --project AppHost");
    }

    private static async Task<bool> PingAsync(int port, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken).ConfigureAwait(false);
        var stream = client.GetStream();
        await stream.WriteAsync("PING\r\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        var buffer = new byte[16];
        var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return read >= 5 && buffer.AsSpan(0, 5).SequenceEqual("+PONG"u8);
    }

    private static string Redact(string connectionString)
        => string.Join(',', connectionString.Split(',').Where(p => !p.TrimStart().StartsWith("password", StringComparison.OrdinalIgnoreCase)));
}

/// <summary>A project of this repository, started as a process.</summary>
public sealed class ProjectResourceBuilder : IResourceBuilder
{
    private readonly DistributedApplicationBuilder _builder;
    private readonly string _projectFolder;
    private readonly string _assemblyName;
    private readonly List<IResourceWithConnectionString> _references = [];
    private readonly List<IResourceBuilder> _waitsFor = [];
    private readonly List<string> _args = [];
    private readonly Dictionary<string, string> _environment = new(StringComparer.Ordinal);

    internal ProjectResourceBuilder(DistributedApplicationBuilder builder, string name, string projectFolder, string assemblyName)
    {
        _builder = builder;
        Name = name;
        _projectFolder = projectFolder;
        _assemblyName = assemblyName;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public IReadOnlyList<IResourceBuilder> WaitsFor => _waitsFor;

    /// <summary>The number of processes.</summary>
    public int Replicas { get; private set; } = 1;

    /// <summary>Whether each replica gets an HTTP endpoint (<c>ASPNETCORE_URLS</c>) whose <c>/health</c> is probed.</summary>
    public bool HasHttpEndpoint { get; private set; }

    /// <summary>What happens when it exits.</summary>
    public RestartPolicy RestartPolicy { get; private set; } = RestartPolicy.OnFailure;

    /// <summary>Whether its output also goes to the AppHost's console.</summary>
    public bool EchoesConsole { get; private set; }

    /// <summary>Gives it <c>ConnectionStrings__{name}</c> of another resource.</summary>
    /// <param name="resource">The resource.</param>
    /// <returns>This builder.</returns>
    public ProjectResourceBuilder WithReference(IResourceWithConnectionString resource)
    {
        _references.Add(resource);
        return this;
    }

    /// <summary>Starts it only once <paramref name="resource"/> is healthy.</summary>
    /// <param name="resource">The resource.</param>
    /// <returns>This builder.</returns>
    public ProjectResourceBuilder WaitFor(IResourceBuilder resource)
    {
        _waitsFor.Add(resource);
        return this;
    }

    /// <summary>Runs several processes.</summary>
    /// <param name="replicas">How many.</param>
    /// <returns>This builder.</returns>
    public ProjectResourceBuilder WithReplicas(int replicas)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        Replicas = replicas;
        return this;
    }

    /// <summary>Gives each replica an HTTP endpoint on a free loopback port and uses its <c>/health</c> as readiness.</summary>
    /// <returns>This builder.</returns>
    public ProjectResourceBuilder WithHttpEndpoint()
    {
        HasHttpEndpoint = true;
        return this;
    }

    /// <summary>Adds command-line arguments.</summary>
    /// <param name="args">The arguments.</param>
    /// <returns>This builder.</returns>
    public ProjectResourceBuilder WithArgs(params string[] args)
    {
        _args.AddRange(args);
        return this;
    }

    /// <summary>Sets an environment variable.</summary>
    /// <param name="name">The variable.</param>
    /// <param name="value">Its value.</param>
    /// <returns>This builder.</returns>
    public ProjectResourceBuilder WithEnvironment(string name, string value)
    {
        _environment[name] = value;
        return this;
    }

    /// <summary>Runs it once (a job): not restarted when it exits.</summary>
    /// <returns>This builder.</returns>
    public ProjectResourceBuilder AsJob()
    {
        RestartPolicy = RestartPolicy.Never;
        return this;
    }

    /// <summary>Writes its standard output to the AppHost's console as it arrives.</summary>
    /// <returns>This builder.</returns>
    public ProjectResourceBuilder WithConsoleEcho()
    {
        EchoesConsole = true;
        return this;
    }

    IReadOnlyList<ResourceInstance> IResourceBuilder.CreateInstances(DistributedApplication app)
    {
        var assembly = Path.Combine(DistributedApplicationBuilder.RepositoryRoot, _projectFolder, "bin", DistributedApplicationBuilder.BuildConfiguration, "net10.0", _assemblyName);
        if (!File.Exists(assembly))
        {
            throw new AppHostException($"{_assemblyName} is not built at {assembly}. Build the solution (dotnet build AgentStreaming.sln) or run the AppHost with dotnet run, which builds it.");
        }

        var instances = new List<ResourceInstance>();
        for (var i = 1; i <= Replicas; i++)
        {
            var instanceName = Replicas == 1 && RestartPolicy == RestartPolicy.Never ? Name : $"{Name}-{i}";
            var info = new ProcessStartInfo("dotnet") { WorkingDirectory = Path.GetDirectoryName(assembly)! };
            info.ArgumentList.Add(assembly);
            foreach (var argument in _args)
            {
                info.ArgumentList.Add(argument);
            }

            var env = info.Environment;
            env["DOTNET_NOLOGO"] = "1";
            env["DOTNET_ENVIRONMENT"] = env["ASPNETCORE_ENVIRONMENT"] = app.EnvironmentName;
            env["OTEL_SERVICE_NAME"] = Name;
            env["OTEL_RESOURCE_ATTRIBUTES"] = $"service.instance.id={instanceName}";
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = app.OtlpEndpoint;
            env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
            env["OTEL_BSP_SCHEDULE_DELAY"] = "1000";
            env["OTEL_BLRP_SCHEDULE_DELAY"] = "1000";
            env["OTEL_METRIC_EXPORT_INTERVAL"] = "5000";
            env["Logging__Console__FormatterName"] = "simple";
            foreach (var reference in _references)
            {
                env[$"ConnectionStrings__{reference.Name}"] = reference.ConnectionString;
            }

            foreach (var (key, value) in _environment)
            {
                env[key] = value;
            }

            var endpoints = new Dictionary<string, string>();
            Func<CancellationToken, Task<bool>>? probe = null;
            if (HasHttpEndpoint)
            {
                var url = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{DistributedApplicationBuilder.FreePort()}");
                env["ASPNETCORE_URLS"] = url;
                endpoints["http"] = url;
                probe = async ct =>
                {
                    using var response = await app.Http.GetAsync(url + "/health", ct).ConfigureAwait(false);
                    return response.IsSuccessStatusCode;
                };
            }

            instances.Add(new ResourceInstance(instanceName, Name, "project", info, probe, RestartPolicy, EchoesConsole, endpoints));
        }

        return instances;
    }
}

/// <summary>The AppHost cannot do what was asked; the message says why and what to do.</summary>
public sealed class AppHostException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong and what to do.</param>
    public AppHostException(string message)
        : base(message)
    {
    }
}

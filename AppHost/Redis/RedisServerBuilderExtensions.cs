using System.Net;
using System.Net.Sockets;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace Aspire.Hosting;

/// <summary>Adds <c>redis-server</c> as an executable resource.</summary>
public static class RedisServerBuilderExtensions
{
    /// <summary>How to install Redis where it is missing.</summary>
    public const string InstallHint =
        "Install it (Debian/Ubuntu: sudo apt-get install -y redis-server), or use an existing Redis: ConnectionStrings__redis=host:port dotnet run --project AppHost";

    /// <summary>
    /// Adds a <c>redis-server</c> process: loopback only, append-only file on in <paramref name="dataDirectory"/> (so
    /// conversations survive an AppHost restart), a health check that PINGs it (so <c>WaitFor(redis)</c> waits until
    /// it answers), and a lock on the folder so that two AppHosts never share one.
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="name">The resource and connection string name.</param>
    /// <param name="dataDirectory">The data folder (created when missing).</param>
    /// <param name="port">The port; <see langword="null"/> or 0 picks a free one at start.</param>
    /// <returns>The resource builder.</returns>
    /// <exception cref="DistributedApplicationException"><c>redis-server</c> is not on <c>PATH</c>, or another AppHost holds the data folder.</exception>
    public static IResourceBuilder<RedisServerResource> AddRedisServer(this IDistributedApplicationBuilder builder, string name, string dataDirectory, int? port = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(dataDirectory);

        var executable = FindOnPath("redis-server")
            ?? throw new DistributedApplicationException($"redis-server was not found on PATH. {InstallHint}");
        dataDirectory = Path.GetFullPath(dataDirectory);
        Directory.CreateDirectory(dataDirectory);
        builder.Services.AddSingleton(DataDirectoryLock.Acquire(dataDirectory));

        var resource = new RedisServerResource(name, executable, dataDirectory);
        var listenPort = port is > 0 ? port.Value : FreeLoopbackPort();
        var healthCheckKey = $"{name}_check";
        // The connection string is known once DCP has allocated the endpoint; the check asks for it lazily.
        builder.Services.AddHealthChecks().AddRedis(
            _ => resource.ConnectionStringExpression.GetValueAsync(default).AsTask().GetAwaiter().GetResult()
                 ?? throw new InvalidOperationException($"The '{name}' endpoint is not allocated yet."),
            name: healthCheckKey);

        return builder.AddResource(resource)
            // Not proxied: every Redis command of every service would otherwise take one more hop.
            .WithEndpoint(port: listenPort, targetPort: listenPort, name: RedisServerResource.PrimaryEndpointName, scheme: "tcp", isProxied: false)
            .WithArgs(ServerArgs(listenPort, dataDirectory))
            .WithHealthCheck(healthCheckKey)
            .WithIconName("Database");
    }

    /// <summary>The arguments of every <c>redis-server</c> the AppHost starts: loopback only, append-only file, no RDB snapshots.</summary>
    internal static string[] ServerArgs(int port, string dataDirectory) =>
    [
        "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--bind", "127.0.0.1",
        "--dir", dataDirectory,
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", string.Empty,
        "--protected-mode", "yes",
    ];

    internal static string? FindOnPath(string program)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        return path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin")
            .Append("/usr/local/bin")
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);
    }

    internal static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>An exclusive lock on a Redis data folder, held while the AppHost runs.</summary>
internal sealed class DataDirectoryLock : IDisposable
{
    private const string LockFileName = "apphost.lock";
    private const string HolderFileName = "apphost.pid";
    private readonly FileStream _lock;

    private DataDirectoryLock(FileStream lockFile) => _lock = lockFile;

    /// <summary>Takes the lock, or explains who holds it.</summary>
    public static DataDirectoryLock Acquire(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, LockFileName);
        try
        {
            // FileShare.None takes an exclusive flock on Unix; the kernel drops it when this process ends, however it ends.
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            File.WriteAllText(Path.Combine(dataDirectory, HolderFileName), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return new DataDirectoryLock(stream);
        }
        catch (IOException ex)
        {
            var holder = TryReadHolder(Path.Combine(dataDirectory, HolderFileName));
            throw new DistributedApplicationException(
                $"Another AppHost{(holder is null ? string.Empty : $" (process {holder})")} is using the Redis data folder {dataDirectory}. " +
                "Stop it first, or give this one its own folder: dotnet run --project AppHost -- --Redis:DataDirectory=/some/other/folder",
                ex);
        }
    }

    public void Dispose() => _lock.Dispose();

    private static string? TryReadHolder(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim() is { Length: > 0 } pid ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}

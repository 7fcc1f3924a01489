using System.Globalization;

namespace AgentStreaming.Testing;

/// <summary>A real Worker process (the built <c>AgentStreaming.Worker.dll</c>) on a free loopback port, ready when returned.</summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private WorkerProcess(ServiceProcess process, Uri url)
    {
        Process = process;
        Url = url;
    }

    /// <summary>The process.</summary>
    public ServiceProcess Process { get; }

    /// <summary>Its HTTP base address.</summary>
    public Uri Url { get; }

    /// <summary>
    /// Starts a Worker of a cluster on any Redis (a server, a Redis Cluster) and waits until it logs that it is ready. A
    /// Worker that found a port taken (its HTTP port, or the silo ports it picks itself: a free port can be handed to
    /// another socket between its pick and the bind) is started again on new ports, up to five times.
    /// </summary>
    /// <param name="redisConnectionString">The Redis connection string it gets as <c>ConnectionStrings__redis</c>.</param>
    /// <param name="clusterId">Its Orleans cluster id (Workers and clients of one test share one).</param>
    /// <param name="name">A name for messages.</param>
    /// <param name="tokensPerSecond">The offline model's pace (0 = no pacing).</param>
    /// <param name="settings">More environment variables (they win over the defaults).</param>
    /// <param name="timeout">How long to wait for it to be ready (default 90 s).</param>
    /// <param name="httpPort">Picks its HTTP port (default: <see cref="FreePort.Next"/>), once per start.</param>
    /// <returns>The ready Worker.</returns>
    public static async Task<WorkerProcess> StartAsync(
        string redisConnectionString,
        string clusterId,
        string name,
        double tokensPerSecond,
        IReadOnlyDictionary<string, string?>? settings = null,
        TimeSpan? timeout = null,
        Func<int>? httpPort = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(redisConnectionString, clusterId, name, tokensPerSecond, settings, timeout, (httpPort ?? FreePort.Next)()).ConfigureAwait(false);
            }
            catch (PortTakenException) when (attempt < 5)
            {
                // Another socket took a port first: new ports.
            }
        }
    }

    private static async Task<WorkerProcess> StartOnceAsync(
        string redisConnectionString,
        string clusterId,
        string name,
        double tokensPerSecond,
        IReadOnlyDictionary<string, string?>? settings,
        TimeSpan? timeout,
        int httpPort)
    {
        var url = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{httpPort}"));
        var environment = new Dictionary<string, string?>
        {
            ["ConnectionStrings__redis"] = redisConnectionString,
            ["ASPNETCORE_URLS"] = url.ToString().TrimEnd('/'),
            ["Orleans__ClusterId"] = clusterId,
            ["OfflineDemoModel__TokensPerSecond"] = tokensPerSecond.ToString(CultureInfo.InvariantCulture),
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__AgentStreaming"] = "Information",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            environment[key] = value;
        }

        var process = ServiceProcess.StartDotnet(name, RepoPaths.ProjectOutput("Worker", "AgentStreaming.Worker.dll"), [], environment);
        try
        {
            await process.WaitForOutputAsync("Worker ready", timeout ?? TimeSpan.FromSeconds(90)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var portTaken = process.HasExited && process.Output.Contains("address already in use", StringComparison.OrdinalIgnoreCase);
            await process.DisposeAsync().ConfigureAwait(false);
            if (portTaken)
            {
                throw new PortTakenException(ex);
            }

            throw;
        }

        return new WorkerProcess(process, url);
    }

    /// <summary>The Worker exited because a port it was to listen on was taken.</summary>
    private sealed class PortTakenException(Exception inner) : Exception(inner.Message, inner);

    /// <summary>Kills the process if it still runs.</summary>
    /// <returns>A task that completes when it is gone.</returns>
    public ValueTask DisposeAsync() => Process.DisposeAsync();
}

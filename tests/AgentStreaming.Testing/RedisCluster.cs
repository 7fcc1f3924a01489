using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace AgentStreaming.Testing;

/// <summary>
/// A real Redis Cluster for tests: <c>redis-server --cluster-enabled yes</c> primaries (each a <see cref="RedisServer"/>)
/// on free loopback ports (client and cluster bus) with a temp directory of their own, joined with
/// <c>redis-cli --cluster create … --cluster-yes</c>. Every process it started is killed on dispose, when starting fails
/// half way, and when the test process exits.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly List<RedisServer> _primaries = [];
    private readonly string _directory;
    private readonly EventHandler _onExit;

    private RedisCluster(string directory)
    {
        _directory = directory;
        _onExit = (_, _) => KillAll();
        AppDomain.CurrentDomain.ProcessExit += _onExit;
    }

    /// <summary>The primaries' client ports.</summary>
    public IReadOnlyList<int> Ports { get; private set; } = [];

    /// <summary>A StackExchange.Redis connection string naming every primary.</summary>
    public string ConnectionString
        => string.Join(',', Ports.Select(p => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{p}"))) + ",abortConnect=false";

    /// <summary>Starts the primaries, creates the cluster and waits until every node reports <c>cluster_state:ok</c>.</summary>
    /// <param name="primaries">How many primaries (at least 3, as <c>redis-cli --cluster create</c> requires).</param>
    /// <returns>The running cluster.</returns>
    public static async Task<RedisCluster> StartAsync(int primaries = 3)
    {
        var cluster = new RedisCluster(Directory.CreateTempSubdirectory("agent-streaming-cluster-").FullName);
        try
        {
            await cluster.StartCoreAsync(primaries).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartCoreAsync(int primaries)
    {
        for (var i = 0; i < primaries; i++)
        {
            var port = FreePort.Next();
            var dir = Directory.CreateDirectory(Path.Combine(_directory, port.ToString(CultureInfo.InvariantCulture))).FullName;
            var primary = await RedisServer.StartClusterNodeAsync(port, FreePort.Next(), dir).ConfigureAwait(false);
            lock (_primaries)
            {
                _primaries.Add(primary);
            }
        }

        Ports = [.. _primaries.Select(p => p.Port)];
        var cli = Path.Combine(Path.GetDirectoryName(RedisServer.FindExecutable())!, "redis-cli");
        if (!File.Exists(cli))
        {
            throw new InvalidOperationException("redis-cli is not installed (Debian: it comes with redis-server, in redis-tools).");
        }

        await CreateAsync(cli).ConfigureAwait(false);
        foreach (var port in Ports)
        {
            await WaitForClusterStateOkAsync(port, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
    }

    private async Task CreateAsync(string cli)
    {
        var info = new ProcessStartInfo(cli) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])["--cluster", "create", .. Ports.Select(p => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{p}")), "--cluster-replicas", "0", "--cluster-yes"])
        {
            info.ArgumentList.Add(arg);
        }

        using var create = Process.Start(info) ?? throw new InvalidOperationException("redis-cli did not start.");
        var output = new StringBuilder();
        create.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        create.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        create.BeginOutputReadLine();
        create.BeginErrorReadLine();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            try
            {
                await create.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                create.Kill(entireProcessTree: true);
                throw;
            }
        }

        create.WaitForExit();
        if (create.ExitCode != 0)
        {
            lock (output)
            {
                throw new InvalidOperationException($"redis-cli --cluster create exited with {create.ExitCode}:\n{output}");
            }
        }
    }

    private async Task WaitForClusterStateOkAsync(int port, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (await RedisServer.AnswersAsync(port, "CLUSTER INFO", "cluster_state:ok").ConfigureAwait(false))
            {
                return;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        throw new TimeoutException($"Redis on port {port} did not report cluster_state:ok within {timeout}:\n"
            + string.Join('\n', _primaries.Select(p => p.Output)));
    }

    private void KillAll()
    {
        lock (_primaries)
        {
            foreach (var primary in _primaries)
            {
                primary.Kill();
            }
        }
    }

    /// <summary>Kills every process it started and deletes its temp directory.</summary>
    /// <returns>A task that completes when done.</returns>
    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        List<RedisServer> primaries;
        lock (_primaries)
        {
            primaries = [.. _primaries];
            _primaries.Clear();
        }

        foreach (var primary in primaries)
        {
            await primary.DisposeAsync().ConfigureAwait(false);
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}

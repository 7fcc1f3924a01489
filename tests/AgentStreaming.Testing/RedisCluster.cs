using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace AgentStreaming.Testing;

/// <summary>
/// A real Redis Cluster for tests: <c>redis-server --cluster-enabled yes</c> primaries on free loopback ports (client and
/// cluster bus) with a temp directory of their own, joined with <c>redis-cli --cluster create … --cluster-yes</c>.
/// Every process it started is killed on dispose, when starting fails half way, and when the test process exits.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly List<Process> _processes = [];
    private readonly StringBuilder _output = new();
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
        var server = RedisServer.FindExecutable();
        var ports = new List<int>();
        for (var i = 0; i < primaries; i++)
        {
            var port = FreePort.Next();
            var bus = FreePort.Next();
            var dir = Directory.CreateDirectory(Path.Combine(_directory, port.ToString(CultureInfo.InvariantCulture))).FullName;
            Start(server,
            [
                "--port", port.ToString(CultureInfo.InvariantCulture),
                "--cluster-port", bus.ToString(CultureInfo.InvariantCulture),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", Path.Combine(dir, "nodes.conf"),
                "--cluster-node-timeout", "5000",
                "--dir", dir,
                "--save", string.Empty,
                "--appendonly", "no",
                "--protected-mode", "no",
                "--daemonize", "no",
                "--maxclients", "10000",
            ]);
            ports.Add(port);
        }

        Ports = ports;
        foreach (var port in ports)
        {
            await WaitForAsync(port, "PING", "+PONG", TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        }

        var cli = Path.Combine(Path.GetDirectoryName(server)!, "redis-cli");
        if (!File.Exists(cli))
        {
            throw new InvalidOperationException("redis-cli is not installed (Debian: it comes with redis-server, in redis-tools).");
        }

        var create = Start(cli, ["--cluster", "create", .. ports.Select(p => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{p}")), "--cluster-replicas", "0", "--cluster-yes"]);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await create.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }

        if (create.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli --cluster create exited with {create.ExitCode}:\n{Output()}");
        }

        foreach (var port in ports)
        {
            await WaitForAsync(port, "CLUSTER INFO", "cluster_state:ok", TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
    }

    private Process Start(string executable, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"{executable} did not start.");
        lock (_processes)
        {
            _processes.Add(process);
        }

        process.OutputDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    private async Task WaitForAsync(int port, string command, string expected, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        var request = Encoding.ASCII.GetBytes(command + "\r\n");
        while (deadline.Elapsed < timeout)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port).ConfigureAwait(false);
                var stream = client.GetStream();
                await stream.WriteAsync(request).ConfigureAwait(false);
                var buffer = new byte[4096];
                var read = await stream.ReadAsync(buffer).ConfigureAwait(false);
                if (Encoding.ASCII.GetString(buffer, 0, read).Contains(expected, StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (SocketException)
            {
                // Not listening yet.
            }
            catch (IOException)
            {
                // Closed while starting.
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        throw new TimeoutException($"Redis on port {port} did not answer {command} with {expected} within {timeout}:\n{Output()}");
    }

    private void KillAll()
    {
        lock (_processes)
        {
            foreach (var process in _processes)
            {
                try
                {
                    if (!process.HasExited)
                    {
                        process.Kill(entireProcessTree: true);
                    }
                }
                catch (InvalidOperationException)
                {
                    // Already gone.
                }
            }
        }
    }

    /// <summary>Kills every process it started and deletes its temp directory.</summary>
    /// <returns>A task that completes when done.</returns>
    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        KillAll();
        List<Process> processes;
        lock (_processes)
        {
            processes = [.. _processes];
            _processes.Clear();
        }

        foreach (var process in processes)
        {
            await process.WaitForExitAsync().ConfigureAwait(false);
            process.Dispose();
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

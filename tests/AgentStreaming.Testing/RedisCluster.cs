using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace AgentStreaming.Testing;

/// <summary>
/// A real Redis Cluster for tests: <c>redis-server --cluster-enabled yes</c> nodes (each a <see cref="RedisServer"/>)
/// on free loopback ports (client and cluster bus) with a temp directory of their own, joined with
/// <c>redis-cli --cluster create … --cluster-replicas N --cluster-yes</c>: primaries, and with replicas the cluster fails
/// over on its own when a primary is killed (node timeout 5 s). With TLS, the nodes speak only TLS, to clients, to each
/// other and to their replicas, with a certificate of a test CA (<see cref="TlsCaCertificateFile"/>). Every process it
/// started is killed on dispose, when starting fails half way, and when the test process exits.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly List<RedisServer> _primaries = [];
    private readonly List<RedisServer> _nodes = [];
    private readonly string _directory;
    private readonly TestCertificateFiles? _tls;
    private readonly EventHandler _onExit;

    private RedisCluster(string directory, bool tls)
    {
        _directory = directory;
        _tls = tls ? TestCertificates.Write(directory) : null;
        _onExit = (_, _) => KillAll();
        AppDomain.CurrentDomain.ProcessExit += _onExit;
    }

    /// <summary>The client ports of the nodes created as primaries.</summary>
    public IReadOnlyList<int> Ports { get; private set; } = [];

    /// <summary>Every node, primaries first, then the replicas (roles change on failover: ask Redis who is primary now).</summary>
    public IReadOnlyList<RedisServer> Nodes
    {
        get
        {
            lock (_primaries)
            {
                return [.. _nodes];
            }
        }
    }

    /// <summary>
    /// A StackExchange.Redis connection string naming every node; with TLS, with <c>ssl=true,sslHost=localhost</c> (the
    /// test CA is not trusted by the machine: connect with <see cref="Configuration"/>).
    /// </summary>
    public string ConnectionString
        => string.Join(',', Nodes.Select(n => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{n.Port}"))) + ",abortConnect=false"
            + (_tls is null ? string.Empty : ",ssl=true,sslHost=localhost");

    /// <summary>With TLS, the PEM file of the test CA that signed the nodes' certificate (what a client must trust).</summary>
    public string? TlsCaCertificateFile => _tls?.CaCertificate;

    /// <summary>The options of <see cref="ConnectionString"/>, trusting the test CA when the cluster speaks TLS.</summary>
    /// <returns>New options (the caller may change them).</returns>
    public ConfigurationOptions Configuration()
    {
        var options = ConfigurationOptions.Parse(ConnectionString);
        if (_tls is not null)
        {
            options.TrustIssuer(_tls.CaCertificate);
        }

        return options;
    }

    /// <summary>The node listening on <paramref name="port"/>.</summary>
    /// <param name="port">A node's client port.</param>
    /// <returns>The node.</returns>
    public RedisServer Node(int port) => Nodes.Single(n => n.Port == port);

    /// <summary>
    /// Starts the nodes, creates the cluster and waits until every node reports <c>cluster_state:ok</c> and every
    /// replica has synced with its primary.
    /// </summary>
    /// <param name="primaries">How many primaries (at least 3, as <c>redis-cli --cluster create</c> requires).</param>
    /// <param name="replicasPerPrimary">How many replicas each primary gets (0: none, no failover).</param>
    /// <param name="tls">Whether the nodes speak only TLS (clients, cluster bus, replication).</param>
    /// <returns>The running cluster.</returns>
    public static async Task<RedisCluster> StartAsync(int primaries = 3, int replicasPerPrimary = 0, bool tls = false)
    {
        var cluster = new RedisCluster(Directory.CreateTempSubdirectory("agent-streaming-cluster-").FullName, tls);
        try
        {
            await cluster.StartCoreAsync(primaries, replicasPerPrimary).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartCoreAsync(int primaries, int replicasPerPrimary)
    {
        // redis-cli --cluster create makes the first `primaries` addresses primaries and the rest their replicas.
        for (var i = 0; i < primaries * (1 + replicasPerPrimary); i++)
        {
            var node = await RedisServer.StartOnFreePortsAsync(() =>
            {
                var port = FreePort.Next();
                var dir = Directory.CreateDirectory(Path.Combine(_directory, port.ToString(CultureInfo.InvariantCulture))).FullName;
                return RedisServer.StartClusterNodeAsync(port, FreePort.Next(), dir, _tls);
            }).ConfigureAwait(false);
            lock (_primaries)
            {
                _nodes.Add(node);
                if (i < primaries)
                {
                    _primaries.Add(node);
                }
            }
        }

        Ports = [.. _primaries.Select(p => p.Port)];
        var cli = Path.Combine(Path.GetDirectoryName(RedisServer.FindExecutable())!, "redis-cli");
        if (!File.Exists(cli))
        {
            throw new InvalidOperationException("redis-cli is not installed (Debian: it comes with redis-server, in redis-tools).");
        }

        await CreateAsync(cli, replicasPerPrimary).ConfigureAwait(false);
        foreach (var node in Nodes)
        {
            await WaitForAsync(node, "CLUSTER INFO", "cluster_state:ok", TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }

        foreach (var replica in Nodes.Skip(primaries))
        {
            await WaitForAsync(replica, "INFO replication", "master_link_status:up", TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until every node that is running reports <c>cluster_state:ok</c> (e.g. after a failover).</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <returns>A task that completes when the cluster serves every slot again.</returns>
    public async Task WaitForStateOkAsync(TimeSpan timeout)
    {
        foreach (var node in Nodes.Where(n => n.IsRunning))
        {
            await WaitForAsync(node, "CLUSTER INFO", "cluster_state:ok", timeout).ConfigureAwait(false);
        }
    }

    private async Task CreateAsync(string cli, int replicasPerPrimary)
    {
        var replicas = replicasPerPrimary.ToString(CultureInfo.InvariantCulture);
        string[] tls = _tls is null ? [] : ["--tls", "--cacert", _tls.CaCertificate];
        string[] arguments = [.. tls, "--cluster", "create", .. Nodes.Select(n => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{n.Port}")), "--cluster-replicas", replicas, "--cluster-yes"];
        var create = await ProcessExits.RunAsync(cli, arguments, TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        if (create.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli --cluster create exited with {create.ExitCode}:\n{create.Stdout}\n{create.Stderr}");
        }
    }

    private async Task WaitForAsync(RedisServer node, string command, string expected, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (await node.AnswersAsync(command, expected).ConfigureAwait(false))
            {
                return;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        throw new TimeoutException($"Redis on port {node.Port} did not answer {command} with {expected} within {timeout}:\n"
            + string.Join('\n', Nodes.Select(n => n.Output)));
    }

    private void KillAll()
    {
        lock (_primaries)
        {
            foreach (var node in _nodes)
            {
                node.Kill();
            }
        }
    }

    /// <summary>Kills every process it started and deletes its temp directory.</summary>
    /// <returns>A task that completes when done.</returns>
    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        List<RedisServer> nodes;
        lock (_primaries)
        {
            nodes = [.. _nodes];
            _nodes.Clear();
            _primaries.Clear();
        }

        foreach (var node in nodes)
        {
            await node.DisposeAsync().ConfigureAwait(false);
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

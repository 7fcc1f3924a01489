using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using StackExchange.Redis;

namespace AgentStreaming.Testing;

/// <summary>
/// A real <c>redis-server</c> process on a free loopback port with a data directory of its own, for tests.
/// It can be killed and restarted on the same port and directory (with AOF on, data survives).
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly bool _appendOnly;
    private readonly bool _ownsDirectory;
    private readonly IReadOnlyList<string> _moreArguments;
    private Process? _process;
    private readonly StringBuilder _output = new();

    private RedisServer(int port, string dataDirectory, bool appendOnly, bool ownsDirectory, IReadOnlyList<string> moreArguments)
    {
        Port = port;
        DataDirectory = dataDirectory;
        _appendOnly = appendOnly;
        _ownsDirectory = ownsDirectory;
        _moreArguments = moreArguments;
    }

    /// <summary>The loopback port.</summary>
    public int Port { get; }

    /// <summary>The data directory (AOF files live here).</summary>
    public string DataDirectory { get; }

    /// <summary>
    /// A StackExchange.Redis connection string for this server (for a TLS-only cluster node with <c>ssl=true</c>: connect
    /// with <see cref="ConnectAsync"/>, which also trusts the test CA).
    /// </summary>
    public string ConnectionString => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port},abortConnect=false")
        + (_tlsOnly is null ? string.Empty : ",ssl=true,sslHost=localhost");

    /// <summary>Whether the server process is running.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The process id, while running.</summary>
    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>Starts a server and waits until it answers PING.</summary>
    /// <param name="appendOnly">Turn on AOF with <c>appendfsync always</c>, so a kill loses nothing.</param>
    /// <param name="port">A port, or a free one.</param>
    /// <param name="dataDirectory">A data directory, or a new temp one (deleted on dispose).</param>
    /// <returns>The running server.</returns>
    public static Task<RedisServer> StartAsync(bool appendOnly = false, int? port = null, string? dataDirectory = null)
    {
        var owns = dataDirectory is null;
        if (port is { } fixedPort)
        {
            return StartAsync(new RedisServer(fixedPort, dataDirectory ?? Directory.CreateTempSubdirectory("agent-streaming-redis-").FullName, appendOnly, owns, []));
        }

        return StartOnFreePortsAsync(() => StartAsync(new RedisServer(
            FreePort.Next(), dataDirectory ?? Directory.CreateTempSubdirectory("agent-streaming-redis-").FullName, appendOnly, owns, [])));
    }

    /// <summary>
    /// Starts a server on ports that <paramref name="start"/> picks, picking again when redis-server found one taken
    /// (a free port can be handed to another socket between <see cref="FreePort.Next"/> and redis-server's bind), up to
    /// five times.
    /// </summary>
    /// <param name="start">Picks the ports and starts the server (a failed server is disposed by it).</param>
    /// <returns>The running server.</returns>
    public static async Task<RedisServer> StartOnFreePortsAsync(Func<Task<RedisServer>> start)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await start().ConfigureAwait(false);
            }
            catch (InvalidOperationException ex) when (attempt < 5 && ex.Message.Contains("Address already in use", StringComparison.Ordinal))
            {
                // Another socket took the port first: new ports.
            }
        }
    }

    /// <summary>
    /// Starts a server that also listens with TLS on <see cref="TlsPort"/> (a certificate for <c>localhost</c> and
    /// <c>127.0.0.1</c> signed by a test CA of its own, <see cref="TlsCaCertificateFile"/>; clients need no certificate).
    /// </summary>
    /// <returns>The running server.</returns>
    public static Task<RedisServer> StartTlsAsync() => StartOnFreePortsAsync(() =>
    {
        var dataDirectory = Directory.CreateTempSubdirectory("agent-streaming-redis-tls-").FullName;
        var files = TestCertificates.Write(dataDirectory);
        var tlsPort = FreePort.Next();
        return StartAsync(new RedisServer(FreePort.Next(), dataDirectory, appendOnly: false, ownsDirectory: true,
            ["--tls-port", tlsPort.ToString(CultureInfo.InvariantCulture), .. files.ServerArguments])
        { TlsPort = tlsPort, TlsCaCertificateFile = files.CaCertificate });
    });

    /// <summary>The TLS port of a server started with <see cref="StartTlsAsync"/>.</summary>
    public int? TlsPort { get; private init; }

    /// <summary>
    /// The PEM file of the CA that signed the certificate of a server started with <see cref="StartTlsAsync"/> (or of a
    /// TLS cluster's node).
    /// </summary>
    public string? TlsCaCertificateFile { get; private init; }

    /// <summary>With TLS only: <see cref="Port"/> is a TLS port (<c>--port 0 --tls-port</c>), and these are the certificates.</summary>
    private TestCertificateFiles? _tlsOnly;

    /// <summary>
    /// Starts a <c>--cluster-enabled</c> node (no persistence) for <see cref="RedisCluster"/>; with
    /// <paramref name="tls"/>, a node that speaks only TLS: to clients on <paramref name="port"/>
    /// (<c>--port 0 --tls-port</c>), to the other nodes on the cluster bus (<c>--tls-cluster yes</c>, which also makes
    /// <c>CLUSTER SLOTS</c>/<c>NODES</c> announce the TLS ports) and to its replicas (<c>--tls-replication yes</c>).
    /// </summary>
    internal static Task<RedisServer> StartClusterNodeAsync(int port, int busPort, string dataDirectory, TestCertificateFiles? tls) =>
        StartAsync(new RedisServer(port, dataDirectory, appendOnly: false, ownsDirectory: false,
        [
            "--cluster-enabled", "yes",
            "--cluster-port", busPort.ToString(CultureInfo.InvariantCulture),
            "--cluster-config-file", Path.Combine(dataDirectory, "nodes.conf"),
            "--cluster-node-timeout", "5000",
            .. tls is null ? [] : (string[])["--tls-cluster", "yes", "--tls-replication", "yes", .. tls.ServerArguments],
        ])
        { _tlsOnly = tls, TlsCaCertificateFile = tls?.CaCertificate });

    private static async Task<RedisServer> StartAsync(RedisServer server)
    {
        try
        {
            await server.StartProcessAsync().ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Everything the process wrote so far.</summary>
    internal string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Finds <c>redis-server</c> on the PATH.</summary>
    /// <returns>The executable's path.</returns>
    /// <exception cref="InvalidOperationException">It is not installed; the message says how to install it.</exception>
    public static string FindExecutable()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("redis-server is not installed. On Debian: sudo apt-get install -y redis-server");
    }

    /// <summary>Kills the process (SIGKILL) without waiting, e.g. while the test process exits.</summary>
    internal void Kill()
    {
        try
        {
            if (_process is { HasExited: false } process)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Connects a multiplexer of the caller's own, with settings changed from the server's connection string.</summary>
    /// <param name="configure">Changes the settings (timeouts, retries) before connecting.</param>
    /// <returns>The multiplexer; the caller disposes it.</returns>
    public Task<ConnectionMultiplexer> ConnectAsync(Action<ConfigurationOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = ConfigurationOptions.Parse(ConnectionString);
        if (_tlsOnly is not null)
        {
            options.TrustIssuer(_tlsOnly.CaCertificate);
        }

        configure(options);
        return ConnectionMultiplexer.ConnectAsync(options);
    }

    /// <summary>Kills the process (SIGKILL) and waits for it to exit.</summary>
    /// <returns>A task that completes when the process is gone.</returns>
    public async Task KillAsync()
    {
        if (_process is { } process)
        {
            await process.KillTreeAsync($"redis-server on port {Port}").ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Stops the server the way a restart or a deploy does (<c>SHUTDOWN</c>: it flushes the AOF, closes every client
    /// connection and exits) and waits for it to exit; killed if it has not exited within 20 s.
    /// </summary>
    /// <returns>A task that completes when the process is gone.</returns>
    public async Task StopAsync()
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }

        try
        {
            using var client = new TcpClient();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await using var stream = await OpenAsync(client, deadline.Token).ConfigureAwait(false);
            await stream.WriteAsync("SHUTDOWN\r\n"u8.ToArray(), deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            // Already going away: waiting for the exit below is all that is left.
        }

        if (!await process.ExitedWithinAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false))
        {
            await KillAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Starts the server again on the same port and data directory.</summary>
    /// <returns>A task that completes when it answers PING.</returns>
    public async Task RestartAsync()
    {
        await KillAsync().ConfigureAwait(false);
        await StartProcessAsync().ConfigureAwait(false);
    }

    private async Task StartProcessAsync()
    {
        var args = new List<string>
        {
            "--port", _tlsOnly is null ? Port.ToString(CultureInfo.InvariantCulture) : "0",
            "--bind", "127.0.0.1",
            "--dir", DataDirectory,
            "--save", string.Empty,
            "--protected-mode", "no",
            "--daemonize", "no",
            "--maxclients", "10000",
            "--appendonly", _appendOnly ? "yes" : "no",
        };
        if (_tlsOnly is not null)
        {
            args.AddRange(["--tls-port", Port.ToString(CultureInfo.InvariantCulture)]);
        }

        if (_appendOnly)
        {
            args.AddRange(["--appendfsync", "always"]);
        }

        args.AddRange(_moreArguments);

        var info = new ProcessStartInfo(FindExecutable())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
        process.OutputDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        await WaitUntilReadyAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false);
    }

    private async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_process is { HasExited: true } exited)
            {
                throw new InvalidOperationException($"redis-server exited with code {exited.ExitCode} on port {Port}:\n{Output}");
            }

            if (await AnswersAsync("PING", "+PONG").ConfigureAwait(false))
            {
                return;
            }

            await Task.Delay(20).ConfigureAwait(false);
        }

        throw new TimeoutException($"redis-server on port {Port} did not answer PING within {timeout}.");
    }

    /// <summary>Whether the server answers <paramref name="command"/> with a reply containing <paramref name="expected"/>.</summary>
    internal async Task<bool> AnswersAsync(string command, string expected)
    {
        try
        {
            // One probe of a poll: a server that accepts but does not answer (loading, paused, stopped) is a no.
            using var client = new TcpClient();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await using var stream = await OpenAsync(client, deadline.Token).ConfigureAwait(false);
            await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), deadline.Token).ConfigureAwait(false);
            var buffer = new byte[4096];
            var read = await stream.ReadAsync(buffer, deadline.Token).ConfigureAwait(false);
            return Encoding.ASCII.GetString(buffer, 0, read).Contains(expected, StringComparison.Ordinal);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (SocketException)
        {
            return false; // Not listening yet.
        }
        catch (IOException)
        {
            return false; // Closed while loading.
        }
        catch (System.Security.Authentication.AuthenticationException)
        {
            return false; // Closed during the TLS handshake.
        }
    }

    /// <summary>Connects <paramref name="client"/> to <see cref="Port"/>; on a TLS-only node, over TLS trusting only the test CA.</summary>
    private async Task<Stream> OpenAsync(TcpClient client, CancellationToken cancellationToken)
    {
        await client.ConnectAsync("127.0.0.1", Port, cancellationToken).ConfigureAwait(false);
        if (_tlsOnly is null)
        {
            return client.GetStream();
        }

        var tls = new SslStream(client.GetStream());
        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(_tlsOnly.CaCertificate));
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(ca);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", CertificateChainPolicy = policy }, cancellationToken).ConfigureAwait(false);
        return tls;
    }

    /// <summary>Kills the server and deletes its temp directory.</summary>
    /// <returns>A task that completes when done.</returns>
    public async ValueTask DisposeAsync()
    {
        await KillAsync().ConfigureAwait(false);
        _process?.Dispose();
        if (_ownsDirectory)
        {
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }
}

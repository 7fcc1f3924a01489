using System.Globalization;
using System.Net;
using System.Net.Sockets;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using Microsoft.Extensions.Options;

[assembly: AssemblyFixture(typeof(AgentStreaming.Worker.Api.Tests.ApiFixture))]

// One Worker serves every test; some tests read its log or restart its Redis, so tests run one at a time.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly)]

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>
/// One real redis-server and one real Worker process (Kestrel on a free loopback port, its own Orleans cluster id) for the assembly; a second Worker with an API key and a small rate limit, and a third with JWT bearer tokens, named keys and the Orleans dashboard, start on first use.
/// </summary>
public sealed class ApiFixture : RedisServerFixture
{
    public const string ApiKey = "test-key-0123456789abcdef";
    public const int KeyedRunsPerWindow = 3;
    public const int KeyedRequestsPerWindow = 40;
    private readonly SemaphoreSlim _keyedGate = new(1, 1);
    private readonly List<ServiceProcess> _workers = [];
    private readonly Dictionary<string, Uri> _onDemand = [];
    private RedisStreamResponseHandler? _streams;

    /// <summary>Writes run streams directly, to control their content.</summary>
    public RedisStreamResponseHandler Streams => _streams ?? throw new InvalidOperationException("Not started.");

    public Uri BaseAddress { get; private set; } = null!;

    public ServiceProcess Worker => _workers[0];

    /// <summary>Every Worker started so far (the first is <see cref="Worker"/>).</summary>
    public IReadOnlyList<ServiceProcess> Workers => _workers;

    public string ClusterId { get; } = "api-" + Guid.NewGuid().ToString("N")[..12];

    protected override async Task OnStartedAsync()
    {
        _streams = new RedisStreamResponseHandler(Multiplexer, Options.Create(new RedisAgentStreamingOptions { ConnectionString = ConnectionString }));
        BaseAddress = await StartWorkerAsync("worker", new Dictionary<string, string?>
        {
            ["AgentApi__HeartbeatInterval"] = "00:00:00.300",
            ["AgentApi__RetryHint"] = "00:00:00.200",
            ["AgentApi__RunsPerWindow"] = "0",
            ["AgentApi__RequestsPerWindow"] = "0",
            ["AgentApi__MaxMessageLength"] = "2000",
            // Everything of ours and of the agent framework at Debug: user text must still not appear (Trace only).
            ["Logging__LogLevel__AgentStreaming"] = "Debug",
            ["Logging__LogLevel__Microsoft.Agents"] = "Debug",
            ["Logging__LogLevel__Microsoft.Extensions.AI"] = "Debug",
        });
    }

    /// <summary>The Worker that requires <see cref="ApiKey"/> and allows <see cref="KeyedRunsPerWindow"/> runs and <see cref="KeyedRequestsPerWindow"/> other requests per client per hour.</summary>
    public Task<Uri> KeyedWorkerAsync() => OnDemandWorkerAsync("keyed-worker", new Dictionary<string, string?>
    {
        ["AgentApi__ApiKey"] = ApiKey,
        ["AgentApi__RunsPerWindow"] = KeyedRunsPerWindow.ToString(CultureInfo.InvariantCulture),
        ["AgentApi__RequestsPerWindow"] = KeyedRequestsPerWindow.ToString(CultureInfo.InvariantCulture),
        ["AgentApi__RateLimitWindow"] = "01:00:00",
    });

    /// <summary>
    /// The Worker that takes JWT bearer tokens configured as <c>dotnet user-jwts</c> writes them (<see cref="Security.Tests.TestTokens"/>)
    /// and the named keys of <see cref="Security.Tests.TestTokens.NamedKeys"/> (<c>ops</c> an admin), with the Orleans dashboard on and no rate limits.
    /// </summary>
    public Task<Uri> SecuredWorkerAsync()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Authentication__Schemes__Bearer__ValidAudiences__0"] = Security.Tests.TestTokens.Audience,
            ["Authentication__Schemes__Bearer__ValidIssuer"] = Security.Tests.TestTokens.Issuer,
            ["Authentication__Schemes__Bearer__SigningKeys__0__Issuer"] = Security.Tests.TestTokens.Issuer,
            ["Authentication__Schemes__Bearer__SigningKeys__0__Value"] = Convert.ToBase64String(Security.Tests.TestTokens.SigningKey),
            ["AgentApi__Admins__0"] = Security.Tests.TestTokens.AdminKeyPrincipal,
            ["AgentApi__RunsPerWindow"] = "0",
            ["AgentApi__RequestsPerWindow"] = "0",
            ["OrleansDashboard__Enabled"] = "true",
        };
        foreach (var (principal, key) in Security.Tests.TestTokens.NamedKeys)
        {
            settings["AgentApi__ApiKeys__" + principal] = key;
        }

        return OnDemandWorkerAsync("secured-worker", settings);
    }

    /// <summary>A Worker (started on first use) that trusts the tokens of <c>dotnet user-jwts</c>, configured with exactly the settings the tool wrote.</summary>
    /// <param name="bearerSettings">The tool's settings, as environment variables.</param>
    public Task<Uri> UserJwtsWorkerAsync(IReadOnlyDictionary<string, string?> bearerSettings)
    {
        var settings = new Dictionary<string, string?>(bearerSettings)
        {
            ["AgentApi__RunsPerWindow"] = "0",
            ["AgentApi__RequestsPerWindow"] = "0",
        };
        return OnDemandWorkerAsync("user-jwts-worker", settings);
    }

    private async Task<Uri> OnDemandWorkerAsync(string name, Dictionary<string, string?> settings)
    {
        // Another test may be starting one: that ends within WorkerProcess's start timeout.
        if (!await _keyedGate.WaitAsync(TimeSpan.FromMinutes(3)))
        {
            throw new TimeoutException($"Another test's start of an on-demand Worker did not end within 3 minutes (wanted: {name}).");
        }

        try
        {
            if (!_onDemand.TryGetValue(name, out var address))
            {
                address = await StartWorkerAsync(name, settings);
                _onDemand[name] = address;
            }

            return address;
        }
        finally
        {
            _keyedGate.Release();
        }
    }

    /// <summary>An HTTP client whose connections come from <paramref name="sourceAddress"/> (a loopback address), so it counts as its own client for rate limits.</summary>
    public static HttpClient Client(Uri baseAddress, string sourceAddress = "127.0.0.1")
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(sourceAddress), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    private async Task<Uri> StartWorkerAsync(string name, Dictionary<string, string?> settings)
    {
        var worker = await WorkerProcess.StartAsync(Server.ConnectionString, ClusterId + "-" + name, name, tokensPerSecond: 300, settings);
        _workers.Add(worker.Process);
        return worker.Url;
    }

    protected override async ValueTask OnStoppingAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }

        _workers.Clear();
        if (_streams is not null)
        {
            await _streams.DisposeAsync();
            _streams = null;
        }

        _keyedGate.Dispose();
    }
}

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
/// One real redis-server and one real Worker process (Kestrel on a free loopback port, its own Orleans cluster id) for the assembly; a second Worker with an API key and a small rate limit starts on first use.
/// </summary>
public sealed class ApiFixture : RedisServerFixture
{
    public const string ApiKey = "test-key-0123456789abcdef";
    public const int KeyedRunsPerWindow = 3;
    public const int KeyedRequestsPerWindow = 40;
    private readonly SemaphoreSlim _keyedGate = new(1, 1);
    private readonly List<ServiceProcess> _workers = [];
    private RedisStreamResponseHandler? _streams;
    private Uri? _keyedBaseAddress;

    /// <summary>Writes run streams directly, to control their content.</summary>
    public RedisStreamResponseHandler Streams => _streams ?? throw new InvalidOperationException("Not started.");

    public Uri BaseAddress { get; private set; } = null!;

    public ServiceProcess Worker => _workers[0];

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
    public async Task<Uri> KeyedWorkerAsync()
    {
        await _keyedGate.WaitAsync();
        try
        {
            return _keyedBaseAddress ??= await StartWorkerAsync("keyed-worker", new Dictionary<string, string?>
            {
                ["AgentApi__ApiKey"] = ApiKey,
                ["AgentApi__RunsPerWindow"] = KeyedRunsPerWindow.ToString(CultureInfo.InvariantCulture),
                ["AgentApi__RequestsPerWindow"] = KeyedRequestsPerWindow.ToString(CultureInfo.InvariantCulture),
                ["AgentApi__RateLimitWindow"] = "01:00:00",
            });
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

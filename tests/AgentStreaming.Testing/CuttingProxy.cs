using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AgentStreaming.Testing;

/// <summary>
/// A TCP proxy on a free loopback port in front of an HTTP server, that can cut a Server-Sent Events response in the
/// middle as a failing network would: both sockets are reset after a given number of events. The server is not told
/// beforehand, so what a test checks is what a client gets from a real dropped connection.
/// </summary>
public sealed class CuttingProxy : IAsyncDisposable
{
    private static readonly byte[] EventStreamHeader = Encoding.ASCII.GetBytes("content-type: text/event-stream");
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private int _cutAfterEvents;

    private CuttingProxy(Uri target)
    {
        _target = new IPEndPoint(IPAddress.Loopback, target.Port);
        _listener.Start();
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        BaseAddress = new UriBuilder(target) { Port = port }.Uri;
        _accepting = AcceptAsync();
    }

    /// <summary>The proxy's address: the target's, on the proxy's port.</summary>
    public Uri BaseAddress { get; }

    /// <summary>How many connections were cut.</summary>
    public int Cuts => Volatile.Read(ref _cuts);

    private int _cuts;

    /// <summary>Starts a proxy in front of a server on the loopback interface.</summary>
    /// <param name="target">The server's address (its port is used).</param>
    /// <returns>The running proxy.</returns>
    public static CuttingProxy Start(Uri target) => new(target);

    /// <summary>Cuts the next <c>text/event-stream</c> response after <paramref name="events"/> events (blank-line-terminated blocks).</summary>
    /// <param name="events">How many events pass first (1 or more).</param>
    public void CutNextEventStreamAfter(int events)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(events, 1);
        Volatile.Write(ref _cutAfterEvents, events);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Task[] open;
        lock (_connections)
        {
            open = [.. _connections];
        }

        await Task.WhenAll(open).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(RelayAsync(client));
            }
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var closing = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        using (client)
        {
            try
            {
                await server.ConnectAsync(_target, closing.Token);
                var up = PumpAsync(client, server, watch: false, closing);
                var down = PumpAsync(server, client, watch: true, closing);
                await Task.WhenAny(up, down);
                await closing.CancelAsync();
                await Task.WhenAll(up, down).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                // The server is gone or the proxy stops: the client sees its connection close.
            }
        }
    }

    /// <summary>Copies one direction; on the server-to-client side, counts the events of an armed event stream and resets both sockets at the limit.</summary>
    private async Task PumpAsync(Socket from, Socket to, bool watch, CancellationTokenSource closing)
    {
        var buffer = new byte[16 * 1024];
        var headerMatched = 0;
        var limit = 0;
        var events = 0;
        byte previous = 0;
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, closing.Token);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                var forward = read;
                for (var i = 0; watch && i < read; i++)
                {
                    var b = buffer[i];
                    if (limit == 0)
                    {
                        // Looking for the header of an event stream: claim the armed cut for this response.
                        headerMatched = char.ToLowerInvariant((char)b) == EventStreamHeader[headerMatched] ? headerMatched + 1 : (char.ToLowerInvariant((char)b) == EventStreamHeader[0] ? 1 : 0);
                        if (headerMatched == EventStreamHeader.Length)
                        {
                            headerMatched = 0;
                            limit = Interlocked.Exchange(ref _cutAfterEvents, 0);
                            if (limit == 0)
                            {
                                watch = false;
                            }
                        }
                    }
                    else if (b == (byte)'\n' && previous == (byte)'\n' && ++events == limit)
                    {
                        forward = i + 1;
                        break;
                    }

                    previous = b;
                }

                await to.SendAsync(buffer.AsMemory(0, forward), SocketFlags.None, closing.Token);
                if (forward < read || (limit > 0 && events >= limit))
                {
                    Interlocked.Increment(ref _cuts);
                    to.LingerState = new LingerOption(true, 0);
                    from.LingerState = new LingerOption(true, 0);
                    to.Close();
                    from.Close();
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The other direction ended, or the proxy stops.
        }
    }
}

using System.Net;
using System.Net.Sockets;

namespace AgentStreaming.Testing;

/// <summary>Finds free loopback TCP ports.</summary>
public static class FreePort
{
    /// <summary>A port on 127.0.0.1 that was free a moment ago.</summary>
    /// <returns>The port.</returns>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

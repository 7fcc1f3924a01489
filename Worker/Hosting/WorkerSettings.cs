using System.Globalization;
using System.Net;
using System.Net.Sockets;
using AgentStreaming.Streaming.Options;

namespace AgentStreaming.Worker.Hosting;

/// <summary>Settings the Worker reads before its host is built.</summary>
internal static class WorkerSettings
{
    /// <summary>
    /// The Redis connection string from <c>ConnectionStrings:redis</c> or <c>REDIS_CONNECTION_STRING</c>, in
    /// StackExchange.Redis form (a <c>redis://</c> URL is converted); exits with a clear message when absent or malformed,
    /// or when <c>Redis:CaCertificate</c> names no certificate or is set without TLS.
    /// </summary>
    public static string RedisConnectionString(IConfiguration configuration)
    {
        var value = configuration.GetConnectionString("redis") ?? configuration["REDIS_CONNECTION_STRING"];
        if (string.IsNullOrWhiteSpace(value))
        {
            Fail("No Redis connection string. Set ConnectionStrings__redis (e.g. 'localhost:6379') or REDIS_CONNECTION_STRING (e.g. 'redis://localhost:6379'), or start everything with the AppHost.");
        }

        if (!AgentStreaming.Streaming.Options.RedisConnectionString.TryParse(value, out var options, out var error))
        {
            Fail($"The Redis connection string is not valid: {error}");
        }

        try
        {
            // Checked here, so that a wrong CA file stops the Worker at once with the reason.
            AgentStreaming.Streaming.Options.RedisConnectionString.ApplySettings(options!, configuration);
        }
        catch (InvalidOperationException ex)
        {
            Fail(ex.Message);
        }

        return options!.ToString(includePassword: true);
    }

    /// <summary>
    /// The silo-to-silo and client gateway ports (<c>Orleans:SiloPort</c>, <c>Orleans:GatewayPort</c>; free loopback
    /// ports when not set, so several Workers can run on one machine) and the advertised address
    /// (<c>Orleans:AdvertisedIP</c>, default loopback).
    /// </summary>
    public static (IPAddress Advertised, int SiloPort, int GatewayPort) SiloEndpoints(IConfiguration configuration)
    {
        var advertised = configuration["Orleans:AdvertisedIP"] is { Length: > 0 } ip
            ? IPAddress.Parse(ip)
            : IPAddress.Loopback;
        return (advertised, Port(configuration, "Orleans:SiloPort"), Port(configuration, "Orleans:GatewayPort"));
    }

    /// <summary>
    /// <c>OrleansDashboard:Enabled</c>: whether the Orleans dashboard is served at <c>/dashboard</c> (admins only).
    /// Default off: its routes are not ours to harden.
    /// </summary>
    public static bool OrleansDashboardEnabled(IConfiguration configuration) => configuration.GetValue("OrleansDashboard:Enabled", false);

    private static int Port(IConfiguration configuration, string key)
    {
        if (configuration[key] is { Length: > 0 } text)
        {
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536)
            {
                return port;
            }

            Fail($"{key} must be a port number between 1 and 65535 (was '{text}').");
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Fail(string message)
    {
        Console.Error.WriteLine($"AgentStreaming.Worker: {message}");
        Environment.Exit(2);
    }
}

internal static partial class WorkerLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Worker ready. Model: {Model}. Orleans silo port {SiloPort}, gateway port {GatewayPort}. HTTP: {Urls}.")]
    public static partial void Started(ILogger logger, string model, int siloPort, int gatewayPort, string urls);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "The Worker runs OPEN: no JWT bearer settings (Authentication:Schemes:Bearer) and no API key (AgentApi:ApiKey, AgentApi:ApiKeys) are configured, so every caller is the admin 'local' and sees every conversation. Use this on a developer's machine only.")]
    public static partial void RunsOpen(ILogger logger);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Callers authenticate with {Schemes}; each sees only its own conversations, the role 'agents.admin' sees all.")]
    public static partial void RunsAuthenticated(ILogger logger, string schemes);
}

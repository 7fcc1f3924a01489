using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Options;

/// <summary>
/// Parses Redis connection strings in both forms users bring: StackExchange.Redis's
/// (<c>localhost:6379,password=…,ssl=true</c>) and the URL form of the original sample and most other clients
/// (<c>redis://[[user]:password@]host[:port][/db]</c>, <c>rediss://</c> for TLS).
/// </summary>
public static class RedisConnectionString
{
    private const int ReconnectIntervalMilliseconds = 250;

    /// <summary>
    /// The configuration key <c>Redis:CaCertificate</c> (environment <c>Redis__CaCertificate</c>): the path of a PEM or
    /// DER file holding the certificate of a private CA that signed the Redis servers' TLS certificates. A server
    /// certificate the machine already trusts still passes; one it does not trust passes when that CA issued it for
    /// server authentication (<see cref="ConfigurationOptions.TrustIssuer(string)"/>). The host name is checked either way
    /// (<c>sslHost</c>, else the endpoint's host). Needs TLS on: <c>ssl=true</c> in the connection string, or <c>rediss://</c>.
    /// </summary>
    public const string CaCertificateKey = "Redis:CaCertificate";

    /// <summary>Parses a connection string into StackExchange.Redis options.</summary>
    /// <param name="connectionString">The connection string.</param>
    /// <returns>The options (with <see cref="ConfigurationOptions.AbortOnConnectFail"/> off, so a process can start before Redis).</returns>
    /// <exception cref="ArgumentException">The connection string is malformed; the message says how.</exception>
    public static ConfigurationOptions Parse(string connectionString)
        => TryParse(connectionString, out var options, out var error) ? options : throw new ArgumentException(error, nameof(connectionString));

    /// <summary>Tries to parse a connection string.</summary>
    /// <param name="connectionString">The connection string.</param>
    /// <param name="options">The options, when valid.</param>
    /// <param name="error">What is wrong, when not (never contains the password).</param>
    /// <returns><see langword="true"/> when valid.</returns>
    public static bool TryParse(string? connectionString, [NotNullWhen(true)] out ConfigurationOptions? options, [NotNullWhen(false)] out string? error)
    {
        options = null;
        error = null;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            error = "The connection string is empty.";
            return false;
        }

        var value = connectionString.Trim();
        if (value.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || value.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase))
        {
            return TryParseUrl(value, out options, out error);
        }

        if (value.Contains("://", StringComparison.Ordinal))
        {
            error = "Only redis:// and rediss:// URLs are understood; otherwise use 'host:port[,option=value...]'.";
            return false;
        }

        try
        {
            options = ConfigurationOptions.Parse(value, ignoreUnknown: true);
        }
        catch (ArgumentException ex)
        {
            error = $"It could not be parsed as 'host:port[,option=value...]': {ex.Message.Split('\n')[0]}";
            return false;
        }

        if (options.EndPoints.Count == 0)
        {
            error = "It names no host; use e.g. 'localhost:6379'.";
            options = null;
            return false;
        }

        ApplyReconnectDefaults(options);
        return true;
    }

    /// <summary>
    /// Makes a connection come back quickly after a Redis blip: a process may start before Redis
    /// (<see cref="ConfigurationOptions.AbortOnConnectFail"/> off), and a lost connection is retried every 250 ms
    /// (<see cref="LinearRetry"/>, checked on a 250 ms heartbeat) instead of StackExchange.Redis's exponential
    /// back-off, which left a stream idle for up to 5.5 s after Redis was back.
    /// </summary>
    /// <param name="options">The options to change.</param>
    /// <returns>The same options.</returns>
    public static ConfigurationOptions ApplyReconnectDefaults(ConfigurationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.AbortOnConnectFail = false;
        options.ReconnectRetryPolicy = new LinearRetry(ReconnectIntervalMilliseconds);
        options.HeartbeatInterval = TimeSpan.FromMilliseconds(ReconnectIntervalMilliseconds);
        return options;
    }

    /// <summary>
    /// Applies what goes with a connection string but cannot be written in one: the reconnect defaults
    /// (<see cref="ApplyReconnectDefaults"/>) and, when <paramref name="configuration"/> sets <see cref="CaCertificateKey"/>,
    /// trust in that CA. Every connection of a process to one Redis is configured by it, so that they all agree.
    /// </summary>
    /// <param name="options">The options parsed from the connection string, changed in place.</param>
    /// <param name="configuration">The application's configuration.</param>
    /// <returns>The same options.</returns>
    /// <exception cref="InvalidOperationException">The CA file is missing or holds no certificate, or TLS is off; the message says what to do.</exception>
    public static ConfigurationOptions ApplySettings(ConfigurationOptions options, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configuration);
        ApplyReconnectDefaults(options);
        if (configuration[CaCertificateKey] is not { Length: > 0 } path)
        {
            return options;
        }

        if (!options.Ssl)
        {
            throw new InvalidOperationException($"{CaCertificateKey} is set ('{path}'), but the Redis connection string does not turn TLS on: add ssl=true (and sslHost=<the name in the servers' certificate>) or use a rediss:// URL, or remove {CaCertificateKey}.");
        }

        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"{CaCertificateKey} names '{path}', which does not exist: give the path of the PEM or DER file of the CA that signed the Redis servers' certificates.");
        }

        try
        {
            options.TrustIssuer(path);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException($"{CaCertificateKey} names '{path}', which holds no certificate that could be read (PEM or DER expected): {ex.Message}", ex);
        }

        return options;
    }

    private static bool TryParseUrl(string value, [NotNullWhen(true)] out ConfigurationOptions? options, [NotNullWhen(false)] out string? error)
    {
        options = null;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            error = "It is not a valid URL; use e.g. 'redis://localhost:6379'.";
            return false;
        }

        options = new ConfigurationOptions
        {
            Ssl = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase),
        };
        var port = uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port;
        options.EndPoints.Add(uri.Host, port);
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var parts = uri.UserInfo.Split(':', 2);
            if (parts.Length == 2)
            {
                if (parts[0].Length > 0)
                {
                    options.User = Uri.UnescapeDataString(parts[0]);
                }

                options.Password = Uri.UnescapeDataString(parts[1]);
            }
            else
            {
                options.Password = Uri.UnescapeDataString(parts[0]);
            }
        }

        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            if (!int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out var db))
            {
                error = $"The path of the URL must be a database number, not '{path}'.";
                options = null;
                return false;
            }

            options.DefaultDatabase = db;
        }

        ApplyReconnectDefaults(options);
        error = null;
        return true;
    }
}

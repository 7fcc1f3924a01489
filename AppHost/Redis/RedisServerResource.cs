namespace Aspire.Hosting.ApplicationModel;

/// <summary>
/// Debian's <c>redis-server</c> run by the AppHost as an executable (these machines have no container engine, which
/// <c>AddRedis</c> needs). Its connection string is <c>host:port</c>, so <c>WithReference(redis)</c> gives every
/// service <c>ConnectionStrings__redis</c> exactly as a Redis container would.
/// </summary>
/// <param name="name">The resource name, which is also the connection string name.</param>
/// <param name="command">The <c>redis-server</c> executable.</param>
/// <param name="dataDirectory">The folder that holds the append-only file.</param>
/// <param name="clusterNodes">
/// For the first node of a Redis Cluster (<c>AddRedisCluster</c>): every node's <c>host:port</c>, which the connection
/// string then names; <see langword="null"/> for a single server.
/// </param>
public sealed class RedisServerResource(string name, string command, string dataDirectory, IReadOnlyList<string>? clusterNodes = null)
    : ExecutableResource(name, command, dataDirectory), IResourceWithConnectionString
{
    /// <summary>The name of the endpoint Redis listens on.</summary>
    public const string PrimaryEndpointName = "tcp";

    private EndpointReference? _primaryEndpoint;

    /// <summary>The folder that holds the append-only file (kept across AppHost runs).</summary>
    public string DataDirectory { get; } = dataDirectory;

    /// <summary>The endpoint Redis listens on.</summary>
    public EndpointReference PrimaryEndpoint => _primaryEndpoint ??= new(this, PrimaryEndpointName);

    /// <summary>The connection string: <c>host:port</c>, or every node's for a cluster.</summary>
    public ReferenceExpression ConnectionStringExpression => clusterNodes is { Count: > 0 }
        ? ReferenceExpression.Create($"{string.Join(',', clusterNodes)}")
        : ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.Host)}:{PrimaryEndpoint.Property(EndpointProperty.Port)}");
}

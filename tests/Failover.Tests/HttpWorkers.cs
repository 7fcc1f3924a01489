using System.Globalization;

namespace AgentStreaming.Failover.Tests;

/// <summary>Worker processes of a <see cref="WorkerCluster"/> that listen on HTTP ports of their own.</summary>
internal static class HttpWorkers
{
    /// <summary>Starts <paramref name="count"/> Workers, each on a free port, then the cluster's client.</summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="count">How many Workers.</param>
    /// <returns>Each Worker's base address, in the order of <see cref="WorkerCluster.Workers"/>.</returns>
    public static async Task<List<Uri>> StartAsync(WorkerCluster cluster, int count)
    {
        var urls = new List<Uri>();
        for (var i = 0; i < count; i++)
        {
            var url = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}"));
            await cluster.StartWorkerAsync(new Dictionary<string, string?> { ["ASPNETCORE_URLS"] = url.ToString().TrimEnd('/') });
            urls.Add(url);
        }

        await cluster.StartClientAsync();
        return urls;
    }

    /// <summary>The base address of a Worker other than <paramref name="other"/>.</summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="urls">The addresses <see cref="StartAsync"/> gave.</param>
    /// <param name="other">The Worker to avoid.</param>
    /// <returns>Another Worker's address.</returns>
    public static Uri Besides(WorkerCluster cluster, List<Uri> urls, ServiceProcess other) =>
        urls[cluster.Workers.ToList().FindIndex(w => w.Id != other.Id)];
}

using Microsoft.Extensions.Hosting;

namespace AgentStreaming.Testing;

/// <summary>
/// Starting and stopping a host a test runs in process (an Orleans silo or client) within a deadline, so that a cluster
/// that never answers fails the test with the host's name instead of hanging the test host. Past the stop's deadline the
/// stop is cancelled: Orleans then stops without waiting for the cluster or Redis, which may be dead or killed by the test.
/// </summary>
public static class HostDeadlines
{
    /// <summary>Starts <paramref name="host"/> within <paramref name="timeout"/> (default 60 s).</summary>
    /// <param name="host">The built host.</param>
    /// <param name="name">What it is, for the message.</param>
    /// <param name="timeout">How long starting may take.</param>
    /// <returns>A task that completes when the host has started.</returns>
    /// <exception cref="TimeoutException">Not started in time (an Orleans client found no gateway, a silo did not join).</exception>
    public static async Task StartWithinAsync(this IHost host, string name, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        using var cancel = new CancellationTokenSource(limit);
        try
        {
            await host.StartAsync(cancel.Token).WaitAsync(limit + TimeSpan.FromSeconds(15)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is OperationCanceledException && cancel.IsCancellationRequested))
        {
            throw new TimeoutException($"{name} did not start within {limit.TotalSeconds:0} s.", ex);
        }
    }

    /// <summary>Stops <paramref name="host"/>, gracefully for at most <paramref name="timeout"/> (default 30 s), then ungracefully.</summary>
    /// <param name="host">The started host.</param>
    /// <param name="name">What it is, for the message.</param>
    /// <param name="timeout">How long a graceful stop may take.</param>
    /// <returns>A task that completes when the host has stopped.</returns>
    /// <exception cref="TimeoutException">Not stopped 15 s after the graceful stop was cancelled.</exception>
    public static async Task StopWithinAsync(this IHost host, string name, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        var graceful = timeout ?? TimeSpan.FromSeconds(30);
        var limit = graceful + TimeSpan.FromSeconds(15);
        using var cancel = new CancellationTokenSource(graceful);
        try
        {
            await host.StopAsync(cancel.Token).WaitAsync(limit).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{name} did not stop within {limit.TotalSeconds:0} s (its graceful stop was cancelled after {graceful.TotalSeconds:0} s).");
        }
        catch (Exception) when (cancel.IsCancellationRequested)
        {
            // Stopped ungracefully: what a cancelled stop reports.
        }
    }
}

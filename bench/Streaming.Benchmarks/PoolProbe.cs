using System.Diagnostics;
using System.Globalization;

namespace AgentStreaming.Benchmarks;

/// <summary>
/// Measures how long a work item waits in the .NET thread pool queue (sampled every 5 ms) while a scenario runs,
/// to tell client-side scheduling delay from Redis-side delay.
/// </summary>
internal sealed class PoolProbe : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<double> _lags = [];
    private readonly Task _loop;
    private int _maxThreads;
    private long _maxQueue;

    public PoolProbe() => _loop = Task.Run(RunAsync);

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var queued = Stopwatch.GetTimestamp();
            var ran = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            ThreadPool.UnsafeQueueUserWorkItem(static state => ((TaskCompletionSource<long>)state!).TrySetResult(Stopwatch.GetTimestamp()), ran);
            var at = await ran.Task.ConfigureAwait(false);
            _lags.Add(Clock.Ms(queued, at));
            _maxThreads = Math.Max(_maxThreads, ThreadPool.ThreadCount);
            _maxQueue = Math.Max(_maxQueue, ThreadPool.PendingWorkItemCount);
            try
            {
                await Task.Delay(5, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public async Task<string> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        var summary = new LatencySummary(_lags);
        return string.Create(CultureInfo.InvariantCulture,
            $"thread-pool queue delay p50/p99/max {summary.Percentile(50):0.00}/{summary.Percentile(99):0.00}/{summary.Max:0.00} ms ({summary.Count} probes), up to {_maxThreads} pool threads, up to {_maxQueue} queued items");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}

using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Resilience;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.Streaming.Streams.Tails;

/// <summary>What a tail's read loop does next after a failed read (<see cref="TailOutage.FailedAsync"/>).</summary>
internal enum TailOutageStep
{
    /// <summary>The back-off has passed: read again.</summary>
    Retry,

    /// <summary>Past <see cref="RedisAgentStreamingOptions.ReconnectTimeout"/>, or a failure retrying cannot fix: fail the readers (see <see cref="TailOutage.Elapsed"/>).</summary>
    GiveUp,

    /// <summary>The tail is stopping.</summary>
    Stopped,
}

/// <summary>
/// One read loop's outage: since when its reads fail, and its back-off (<see cref="RedisFailurePolicy"/>), so every
/// tail reconnects the same way: transient failures are ridden out for <see cref="RedisAgentStreamingOptions.ReconnectTimeout"/>,
/// anything else gives the readers up at once.
/// </summary>
internal sealed class TailOutage(RedisAgentStreamingOptions options, ILogger logger, TimeProvider time)
{
    private DateTimeOffset? _since;
    private TimeSpan _delay;

    /// <summary>How long the reads had been failing at the last failure.</summary>
    public TimeSpan Elapsed { get; private set; }

    /// <summary>A read succeeded: ends the outage (logged when there was one).</summary>
    public void Succeeded()
    {
        if (_since is { } since)
        {
            var outage = time.GetUtcNow() - since;
            StreamingLog.TailReconnected(logger, outage);
            _since = null;
            _delay = TimeSpan.Zero;
        }
    }

    /// <summary>A read failed: pauses for the back-off, or says to give up (and forgets the outage).</summary>
    public async Task<TailOutageStep> FailedAsync(Exception failure, CancellationToken stopping)
    {
        var now = time.GetUtcNow();
        _since ??= now;
        Elapsed = now - _since.Value;
        if (Elapsed >= options.ReconnectTimeout || !RedisFailurePolicy.IsTransient(failure))
        {
            _since = null;
            return TailOutageStep.GiveUp;
        }

        StreamingLog.TailConnectionLost(logger, Elapsed, failure);
        _delay = RedisFailurePolicy.NextDelay(_delay);
        try
        {
            await Task.Delay(_delay, time, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return TailOutageStep.Stopped;
        }

        return TailOutageStep.Retry;
    }
}

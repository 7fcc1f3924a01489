using System.Diagnostics;
using AgentStreaming.DurableAgents.Options;
using AgentStreaming.DurableAgents.Recovery;

namespace AgentStreaming.DurableAgents.Grains;

/// <summary>
/// The conversation's claim in Redis while it has unfinished runs (<see cref="RunLeaseStore"/>): renewed by a grain
/// timer, dropped when the queue is empty, made due at once on a hand-over so another worker takes the run without
/// waiting for the claim to lapse.
/// </summary>
internal sealed class RunLease
{
    private readonly IGrainBase _grain;
    private readonly RunLeaseStore _store;
    private readonly DurableAgentsOptions _options;
    private readonly string _conversationKey;
    private IGrainTimer? _timer;

    public RunLease(IGrainBase grain, RunLeaseStore store, DurableAgentsOptions options, string conversationKey)
    {
        _grain = grain;
        _store = store;
        _options = options;
        _conversationKey = conversationKey;
    }

    /// <summary>Claims the conversation for <see cref="DurableAgentsOptions.RunLeaseDuration"/> (<c>ZADD</c>).</summary>
    public Task ClaimAsync() => _store.RenewAsync(_conversationKey, _options.RunLeaseDuration);

    /// <summary>Keeps the claim renewed while the activation works (an interleaving timer that keeps it alive).</summary>
    public void Hold()
        => _timer ??= _grain.RegisterGrainTimer(
            _ => RenewAsync(),
            new GrainTimerCreationOptions
            {
                DueTime = _options.RunLeaseRenewInterval,
                Period = _options.RunLeaseRenewInterval,
                KeepAlive = true,
                Interleave = true,
            });

    /// <summary>
    /// A renewal by the timer: periodic work that belongs to no request, so it runs outside any trace (whatever context
    /// the timer callback inherits) and its <c>ZADD</c> counts as background work for tracing.
    /// </summary>
    private async Task RenewAsync()
    {
        Activity.Current = null;
        await ClaimAsync();
    }

    /// <summary>Stops renewing and drops the claim: nothing is left to run (<c>ZREM</c>).</summary>
    public Task ReleaseAsync()
    {
        Stop();
        return _store.RemoveAsync(_conversationKey);
    }

    /// <summary>Stops renewing and makes the claim due now, so the next recovery scan of any worker takes it.</summary>
    public Task HandOverAsync()
    {
        Stop();
        return _store.RenewAsync(_conversationKey, TimeSpan.Zero);
    }

    /// <summary>Stops renewing; the claim lapses by itself after <see cref="DurableAgentsOptions.RunLeaseDuration"/>.</summary>
    public void Stop()
    {
        _timer?.Dispose();
        _timer = null;
    }
}

using System.Diagnostics;
using AgentStreaming.DurableAgents.Diagnostics;
using AgentStreaming.DurableAgents.Options;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentStreaming.DurableAgents.Recovery;

/// <summary>
/// Runs on every worker: takes over the claims of workers that stopped renewing them (crashed or killed) and
/// re-drives those conversations, whose unfinished runs then continue as their next attempt.
/// </summary>
internal sealed partial class RunRecoveryService : BackgroundService
{
    private readonly RunLeaseStore _leases;
    private readonly IGrainFactory _grains;
    private readonly DurableAgentsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<RunRecoveryService> _logger;

    public RunRecoveryService(RunLeaseStore leases, IGrainFactory grains, IOptions<DurableAgentsOptions> options, TimeProvider time, ILogger<RunRecoveryService> logger)
    {
        _leases = leases;
        _grains = grains;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The scans belong to no request: outside any trace, their Redis commands count as background work for tracing.
        Activity.Current = null;
        using var timer = new PeriodicTimer(_options.RecoveryScanInterval, _time);
        do
        {
            IReadOnlyList<string> due;
            try
            {
                due = await _leases.ClaimExpiredAsync(_options.RunLeaseDuration).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
            {
                DurableAgentsLog.RecoveryFailed(_logger, "(scan)", ex);
                continue;
            }

            foreach (var key in due)
            {
                DurableAgentsLog.Recovering(_logger, key);
                DurableAgentsDiagnostics.RecoveriesCounter.Add(1);
                _ = ResumeAsync(key);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private async Task ResumeAsync(string key)
    {
        try
        {
            await _grains.GetGrain<IAgentConversationGrain>(key).ResumeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The claim was extended; when it lapses again the next scan retries (e.g. once the dead worker is declared dead).
            DurableAgentsLog.RecoveryFailed(_logger, key, ex);
        }
    }
}

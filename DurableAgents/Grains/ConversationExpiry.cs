using AgentStreaming.DurableAgents.Options;

namespace AgentStreaming.DurableAgents.Grains;

/// <summary>
/// When a conversation is deleted: <see cref="DurableAgentsOptions.ConversationTtl"/> after its last activity, once no
/// run is unfinished. A reminder wakes the grain to check; where no reminder service is configured, the storage
/// entries' own expiry removes the conversation anyway.
/// </summary>
internal sealed class ConversationExpiry
{
    /// <summary>The reminder's name.</summary>
    public const string ReminderName = "conversation-expiry";

    private readonly IGrainBase _grain;
    private readonly TimeSpan _ttl;
    private readonly TimeProvider _time;
    private bool _reminderSet;

    public ConversationExpiry(IGrainBase grain, TimeSpan ttl, TimeProvider time)
    {
        _grain = grain;
        _ttl = ttl;
        _time = time;
    }

    /// <summary>Whether the conversation is due for deletion.</summary>
    /// <param name="lastActivity">When it was last used.</param>
    /// <param name="hasUnfinishedRuns">Whether a run is queued or running (such a conversation never expires).</param>
    public bool IsDue(DateTimeOffset? lastActivity, bool hasUnfinishedRuns)
        => lastActivity is { } last && last + _ttl <= _time.GetUtcNow() && !hasUnfinishedRuns;

    /// <summary>Registers the reminder once per activation (period: the TTL, at least Orleans' one-minute minimum).</summary>
    public async Task EnsureReminderAsync()
    {
        if (_reminderSet)
        {
            return;
        }

        try
        {
            var period = _ttl < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : _ttl;
            await _grain.RegisterOrUpdateReminder(ReminderName, period, period);
        }
        catch (Exception ex) when (Client.DurableAgentsFailures.IsUnavailable(ex))
        {
            // Redis failing over or unreachable: the run is accepted all the same (expiry also happens through the
            // storage entries' TTL), and the conversation's next run registers the reminder again.
            return;
        }
        catch (Exception ex) when (ex is InvalidOperationException or OrleansException or ArgumentException)
        {
            // No reminder service configured: expiry still happens through the storage entries' TTL.
        }

        _reminderSet = true;
    }

    /// <summary>Drops the reminder of a deleted conversation.</summary>
    public async Task UnregisterAsync()
    {
        try
        {
            var reminder = await _grain.GetReminder(ReminderName);
            if (reminder is not null)
            {
                await _grain.UnregisterReminder(reminder);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OrleansException)
        {
            // No reminder service in this silo: nothing to drop.
        }
    }
}

using Microsoft.Extensions.Options;

namespace AgentStreaming.DurableAgents.Options;

/// <summary>Validates <see cref="DurableAgentsOptions"/> when the host starts.</summary>
internal sealed class DurableAgentsOptionsValidator : IValidateOptions<DurableAgentsOptions>
{
    public ValidateOptionsResult Validate(string? name, DurableAgentsOptions options)
    {
        var failures = new List<string>();
        if (options.MaxAttempts < 1)
        {
            failures.Add("DurableAgents:MaxAttempts must be at least 1.");
        }

        if (options.ConversationTtl <= TimeSpan.Zero)
        {
            failures.Add("DurableAgents:ConversationTtl must be positive.");
        }

        if (options.MaxMessageLength <= 0)
        {
            failures.Add("DurableAgents:MaxMessageLength must be positive.");
        }

        if (options.HistoryWindow < 0)
        {
            failures.Add("DurableAgents:HistoryWindow must not be negative.");
        }

        if (options.RunLeaseRenewInterval <= TimeSpan.Zero || options.RunLeaseRenewInterval >= options.RunLeaseDuration)
        {
            failures.Add("DurableAgents:RunLeaseRenewInterval must be positive and shorter than RunLeaseDuration.");
        }

        if (options.RecoveryScanInterval <= TimeSpan.Zero)
        {
            failures.Add("DurableAgents:RecoveryScanInterval must be positive.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

using Microsoft.Extensions.Options;

namespace AgentStreaming.DurableAgents.Options;

/// <summary>Validates <see cref="DurableAgentsClientOptions"/> when the host starts.</summary>
internal sealed class DurableAgentsClientOptionsValidator : IValidateOptions<DurableAgentsClientOptions>
{
    public ValidateOptionsResult Validate(string? name, DurableAgentsClientOptions options)
    {
        var failures = new List<string>();
        if (options.ConnectTimeout < TimeSpan.Zero)
        {
            failures.Add("DurableAgents:Client:ConnectTimeout must not be negative (0 gives up at the first failed connection attempt).");
        }

        if (options.CallRetryTimeout < TimeSpan.Zero)
        {
            failures.Add("DurableAgents:Client:CallRetryTimeout must not be negative (0 does not retry).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

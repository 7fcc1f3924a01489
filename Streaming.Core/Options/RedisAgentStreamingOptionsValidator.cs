using Microsoft.Extensions.Options;

namespace AgentStreaming.Streaming.Options;

/// <summary>
/// The one validation of <see cref="RedisAgentStreamingOptions"/>, run when the host starts (<c>ValidateOnStart</c>):
/// every failure names the setting as it is configured (<c>AgentStreaming:Redis:…</c>) and the allowed range.
/// </summary>
internal sealed class RedisAgentStreamingOptionsValidator : IValidateOptions<RedisAgentStreamingOptions>
{
    private const string Prefix = RedisAgentStreamingOptions.SectionName + ":";
    private readonly bool _multiplexerRegistered;

    public RedisAgentStreamingOptionsValidator(bool multiplexerRegistered) => _multiplexerRegistered = multiplexerRegistered;

    public ValidateOptionsResult Validate(string? name, RedisAgentStreamingOptions options)
    {
        var failures = new List<string>();
        if (!_multiplexerRegistered && options.Configuration is null)
        {
            if (string.IsNullOrWhiteSpace(options.ConnectionString))
            {
                failures.Add("No Redis connection string: set ConnectionStrings:redis (env ConnectionStrings__redis) or REDIS_CONNECTION_STRING, e.g. 'localhost:6379' or 'redis://localhost:6379'.");
            }
            else if (!RedisConnectionString.TryParse(options.ConnectionString, out _, out var error))
            {
                failures.Add($"The Redis connection string is not valid: {error}");
            }
        }

        if (string.IsNullOrWhiteSpace(options.KeyPrefix))
        {
            failures.Add($"{Prefix}KeyPrefix must not be empty.");
        }
        else if (options.KeyPrefix.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            failures.Add($"{Prefix}KeyPrefix must not contain '{{' or '}}': a run's keys use the whole stream key as their Redis Cluster hash tag (was '{options.KeyPrefix}').");
        }

        Positive(options.StreamTtl, nameof(options.StreamTtl), failures);
        Positive(options.NotFoundTimeout, nameof(options.NotFoundTimeout), failures, allowZero: true);
        Positive(options.ReconnectTimeout, nameof(options.ReconnectTimeout), failures, allowZero: true);
        Positive(options.WriteRetryTimeout, nameof(options.WriteRetryTimeout), failures, allowZero: true);
        Positive(options.TailBlockTimeout, nameof(options.TailBlockTimeout), failures);
        Positive(options.IdleCheckInterval, nameof(options.IdleCheckInterval), failures);
        Positive(options.ExpiredStreamMemory, nameof(options.ExpiredStreamMemory), failures, allowZero: true);
        if (options.StreamTtl < TimeSpan.FromSeconds(1) && options.StreamTtl > TimeSpan.Zero)
        {
            failures.Add($"{Prefix}StreamTtl must be at least one second (REDIS_STREAM_TTL_MINUTES takes minutes; was {options.StreamTtl}).");
        }

        Within(options.MaxBatchSize, 1, 4096, nameof(options.MaxBatchSize), failures);
        Within(options.ReadBatchSize, 1, 10_000, nameof(options.ReadBatchSize), failures);
        Within(options.MaxPendingEntries, 1, int.MaxValue, nameof(options.MaxPendingEntries), failures);
        Within(options.ReaderBufferLimit, 1, int.MaxValue, nameof(options.ReaderBufferLimit), failures);
        Within(options.ReplicaAcks, 0, 16, nameof(options.ReplicaAcks), failures);
        Positive(options.ReplicaAckTimeout, nameof(options.ReplicaAckTimeout), failures);

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Positive(TimeSpan value, string name, List<string> failures, bool allowZero = false)
    {
        if (value < TimeSpan.Zero || (!allowZero && value == TimeSpan.Zero))
        {
            failures.Add($"{Prefix}{name} must be {(allowZero ? "zero or positive" : "positive")} (was {value}).");
        }
    }

    private static void Within(int value, int min, int max, string name, List<string> failures)
    {
        if (value < min || value > max)
        {
            failures.Add(max == int.MaxValue
                ? $"{Prefix}{name} must be at least {min} (was {value})."
                : $"{Prefix}{name} must be between {min} and {max} (was {value}).");
        }
    }
}

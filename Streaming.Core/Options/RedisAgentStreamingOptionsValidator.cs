using Microsoft.Extensions.Options;

namespace AgentStreaming.Streaming.Options;

/// <summary>Validates <see cref="RedisAgentStreamingOptions"/> at start.</summary>
internal sealed class RedisAgentStreamingOptionsValidator : IValidateOptions<RedisAgentStreamingOptions>
{
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
            failures.Add("KeyPrefix must not be empty.");
        }
        else if (options.KeyPrefix.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            failures.Add("KeyPrefix must not contain '{' or '}': a run's keys use the whole stream key as their Redis Cluster hash tag.");
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
            failures.Add("StreamTtl must be at least one second (REDIS_STREAM_TTL_MINUTES takes minutes).");
        }

        if (options.MaxBatchSize is < 1 or > 4096)
        {
            failures.Add("MaxBatchSize must be between 1 and 4096.");
        }

        if (options.ReadBatchSize is < 1 or > 10_000)
        {
            failures.Add("ReadBatchSize must be between 1 and 10000.");
        }

        if (options.MaxPendingEntries < 1)
        {
            failures.Add("MaxPendingEntries must be positive.");
        }

        if (options.ReaderBufferLimit < 1)
        {
            failures.Add("ReaderBufferLimit must be positive.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Positive(TimeSpan value, string name, List<string> failures, bool allowZero = false)
    {
        if (value < TimeSpan.Zero || (!allowZero && value == TimeSpan.Zero))
        {
            failures.Add($"{name} must be {(allowZero ? "zero or positive" : "positive")} (was {value}).");
        }
    }
}

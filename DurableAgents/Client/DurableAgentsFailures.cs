using AgentStreaming.Streaming.Resilience;
using Orleans.Storage;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>
/// What a failure of the durable agents means to a caller: "unavailable" (Redis or the workers cannot be reached right
/// now; the same call later can succeed) or anything else. A host maps the first to <c>503</c> with
/// <c>Retry-After</c>, without knowing Redis's or Orleans's exception types.
/// </summary>
public static class DurableAgentsFailures
{
    private const int MaxDepth = 8;

    /// <summary>How long a caller should wait before trying again after an "unavailable" failure: 1 s, Streaming.Core's Redis failure policy (a host's <c>Retry-After</c>).</summary>
    public static TimeSpan RetryAfter => RedisFailurePolicy.RetryAfter;

    /// <summary>
    /// Whether <paramref name="exception"/>, or one it wraps, says that Redis or the workers cannot be reached right
    /// now: a <see cref="DurableAgentsUnavailableException"/>, a transient Redis failure (connection lost, timeout,
    /// <c>LOADING</c>, <c>BUSY</c>, <c>TRYAGAIN</c>, <c>CLUSTERDOWN</c>, <c>MASTERDOWN</c>, <c>READONLY</c>, <c>EXECABORT</c>), or a worker
    /// that cannot take the call. Also when the failure crossed a grain call as Orleans's stand-in for an exception
    /// type it cannot copy.
    /// </summary>
    /// <param name="exception">The failure.</param>
    /// <returns><see langword="true"/> when trying again later makes sense.</returns>
    public static bool IsUnavailable(Exception? exception)
    {
        for (var depth = 0; exception is not null && depth < MaxDepth; depth++)
        {
            if (exception is DurableAgentsUnavailableException || IsWorkerUnreachable(exception) || IsStoreUnavailable(exception) || IsStateLost(exception))
            {
                return true;
            }

            exception = exception is AggregateException { InnerExceptions: [var only] } ? only : exception.InnerException;
        }

        return false;
    }

    /// <summary>
    /// A conversation's stored state was not what its activation last wrote (Redis lost or replaced its data): the
    /// activation drops itself, and the same call on the next one succeeds.
    /// </summary>
    internal static bool IsStateLost(Exception exception) => exception is InconsistentStateException
        || exception is Orleans.Serialization.UnavailableExceptionFallbackException { ExceptionType: var type } && type == typeof(InconsistentStateException).FullName;

    /// <summary>Orleans could not deliver a call to a worker: none is up, the silo is gone, the gateway is busy.</summary>
    internal static bool IsWorkerUnreachable(Exception exception) => exception is Orleans.Runtime.Messaging.ConnectionFailedException
        or SiloUnavailableException
        or OrleansMessageRejectionException
        or GatewayTooBusyException
        or TimeoutException and not RedisTimeoutException;

    /// <summary>
    /// A transient Redis failure (<see cref="RedisFailurePolicy.IsTransient"/>), thrown here or carried across a grain
    /// call as Orleans's stand-in, which keeps only the type's name and the message.
    /// </summary>
    internal static bool IsStoreUnavailable(Exception exception)
    {
        if (exception is Orleans.Serialization.UnavailableExceptionFallbackException { ExceptionType: { } type } fallback)
        {
            return IsTransientByName(type, fallback.Message)
                || (type == typeof(Orleans.Persistence.Redis.RedisStorageException).FullName && IsWrappedTransient(fallback.Message));
        }

        if (exception is Orleans.Persistence.Redis.RedisStorageException storage && IsWrappedTransient(storage.Message))
        {
            return true;
        }

        // A Redis failure inside a grain call that Orleans could not even copy back to the caller (seen while a Redis
        // Cluster fails over): the call did not happen, and the same call on the promoted replica can succeed.
        if (exception is Orleans.Serialization.CodecNotFoundException codec && codec.Message.Contains("StackExchange.Redis.", StringComparison.Ordinal))
        {
            return true;
        }

        return RedisFailurePolicy.IsTransient(exception);
    }

    private static bool IsTransientByName(string type, string message)
        => type == typeof(RedisConnectionException).FullName
            || type == typeof(RedisTimeoutException).FullName
            || (type == typeof(RedisServerException).FullName && RedisFailurePolicy.IsTransientErrorReply(message));

    /// <summary>
    /// Orleans's Redis grain storage throws its own exception for a failed read, write or clear, with the Redis failure
    /// only in the text ("… storage key k. StackExchange.Redis.RedisServerException: CLUSTERDOWN The cluster is down").
    /// </summary>
    internal static bool IsWrappedTransient(string message)
    {
        const string Namespace = "StackExchange.Redis.";
        var at = message.IndexOf(" " + Namespace, StringComparison.Ordinal);
        if (at < 0)
        {
            return false;
        }

        var wrapped = message[(at + 1)..];
        var colon = wrapped.IndexOf(": ", StringComparison.Ordinal);
        return colon > 0 && IsTransientByName(wrapped[..colon], wrapped[(colon + 2)..]);
    }

    /// <summary>Runs a Redis call of this library, turning a transient Redis failure into <see cref="DurableAgentsUnavailableException"/>.</summary>
    internal static async Task<T> TranslateAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreUnavailable(ex))
        {
            throw Unavailable(ex);
        }
    }

    internal static DurableAgentsUnavailableException Unavailable(Exception cause)
        => new($"Redis, where the durable agents keep their runs and streams, did not answer ({Describe(cause)}). Try again shortly.", DurableAgentsUnavailableCause.Redis, cause);

    private static string Describe(Exception cause)
    {
        var message = cause.Message;
        var end = message.IndexOfAny(['\r', '\n']);
        message = end < 0 ? message : message[..end];
        return message.Length <= 200 ? message : message[..200] + "…";
    }
}

using StackExchange.Redis;

namespace AgentStreaming.Streaming.Resilience;

/// <summary>
/// The one Redis failure policy of AgentStreaming: which Redis failures are transient (worth sending the same command
/// again), how long to wait between attempts, and what an HTTP client is told to wait when Redis stays unreachable.
/// </summary>
/// <remarks>
/// The stream writer, the reader's catch-up and probes, and the shared tails' reconnects all classify failures and
/// back off with this class; each keeps its own deadline (<c>WriteRetryTimeout</c>, <c>ReconnectTimeout</c>) and its
/// own way of giving up.
/// </remarks>
public static class RedisFailurePolicy
{
    // EXECABORT: a MULTI whose queued command the server refused (during a failover: CLUSTERDOWN, TRYAGAIN, a moved
    // slot) is discarded whole, so sending it again is safe; this library's transactions hold no command Redis would
    // refuse for its syntax.
    private static readonly string[] TransientCodes = ["LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "EXECABORT"];

    /// <summary>The first pause after a transient failure: 50 ms.</summary>
    public static TimeSpan FirstRetryDelay { get; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest pause between two attempts: 1 s (the pause doubles from <see cref="FirstRetryDelay"/> up to it).</summary>
    public static TimeSpan MaxRetryDelay { get; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a client should wait before trying again when Redis is unreachable: 1 s, the longest pause between two
    /// attempts here (the <c>Retry-After</c> of a <c>503</c>).
    /// </summary>
    public static TimeSpan RetryAfter { get; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Whether a failed Redis command may succeed if sent again unchanged: the connection failed or timed out, or the
    /// server answered that it is loading its data set, busy with a script, or failing over.
    /// </summary>
    /// <param name="exception">The failure, or an exception that wraps it (inner exceptions are searched).</param>
    /// <returns>
    /// <see langword="true"/> for <see cref="RedisConnectionException"/>, <see cref="RedisTimeoutException"/>, a
    /// <see cref="TimeoutException"/> raised by StackExchange.Redis, and a Redis error reply whose code is <c>LOADING</c>,
    /// <c>BUSY</c>, <c>TRYAGAIN</c>, <c>CLUSTERDOWN</c>, <c>MASTERDOWN</c>, <c>READONLY</c> (a replica promoted or
    /// demoted during a failover) or <c>EXECABORT</c> (a transaction discarded whole because the server refused one of
    /// its commands, as it does during a failover); <see langword="false"/> for anything else, including refusals of this library's
    /// scripts and <see cref="ObjectDisposedException"/>.
    /// </returns>
    public static bool IsTransient(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            if (IsTransientItself(ex))
            {
                return true;
            }

            if (ex is AggregateException aggregate && aggregate.InnerExceptions.Any(IsTransient))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The pause after <paramref name="previous"/>: <see cref="FirstRetryDelay"/> first, then doubling up to <see cref="MaxRetryDelay"/>.</summary>
    /// <param name="previous">The pause before, or <see cref="TimeSpan.Zero"/> after the first failure.</param>
    /// <returns>The next pause.</returns>
    public static TimeSpan NextDelay(TimeSpan previous)
        => previous < FirstRetryDelay ? FirstRetryDelay
            : previous.Ticks >= MaxRetryDelay.Ticks / 2 ? MaxRetryDelay
            : TimeSpan.FromTicks(previous.Ticks * 2);

    /// <summary>
    /// Runs <paramref name="operation"/>, running it again after each transient failure (<see cref="IsTransient"/>)
    /// with the back-off of <see cref="NextDelay"/>, until it succeeds or <paramref name="timeout"/> has passed since
    /// the first failure.
    /// </summary>
    /// <typeparam name="T">The operation's result.</typeparam>
    /// <param name="operation">The Redis call; called once per attempt.</param>
    /// <param name="timeout">How long transient failures are ridden out, from the first one; <see cref="TimeSpan.Zero"/> never retries.</param>
    /// <param name="time">The clock of the deadline and the pauses.</param>
    /// <param name="onRetry">Called before each pause with the failure and how long the operation has been failing.</param>
    /// <param name="cancellationToken">Stops the wait for an attempt and the pauses.</param>
    /// <returns>The operation's result.</returns>
    /// <exception cref="Exception">
    /// The operation's failure, rethrown as it is: a failure that is not transient at once, the last transient one when
    /// the deadline has passed (test it with <see cref="IsTransient"/> to map it).
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<T> RetryAsync<T>(
        Func<Task<T>> operation,
        TimeSpan timeout,
        TimeProvider time,
        Action<Exception, TimeSpan>? onRetry,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(time);
        long? failingSince = null;
        var delay = TimeSpan.Zero;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                return await operation().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsTransient(ex))
            {
                failingSince ??= time.GetTimestamp();
                var elapsed = time.GetElapsedTime(failingSince.Value);
                if (elapsed >= timeout)
                {
                    throw;
                }

                onRetry?.Invoke(ex, elapsed);
            }

            delay = NextDelay(delay);
            await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc cref="RetryAsync{T}(Func{Task{T}}, TimeSpan, TimeProvider, Action{Exception, TimeSpan}?, CancellationToken)" path="/summary"/>
    /// <param name="operation">The Redis call; called once per attempt.</param>
    /// <param name="timeout">How long transient failures are ridden out, from the first one; <see cref="TimeSpan.Zero"/> never retries.</param>
    /// <param name="time">The clock of the deadline and the pauses.</param>
    /// <param name="onRetry">Called before each pause with the failure and how long the operation has been failing.</param>
    /// <param name="cancellationToken">Stops the wait for an attempt and the pauses.</param>
    /// <returns>A task that completes when the operation succeeded.</returns>
    public static Task RetryAsync(
        Func<Task> operation,
        TimeSpan timeout,
        TimeProvider time,
        Action<Exception, TimeSpan>? onRetry,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
        return RetryAsync(
            async () =>
            {
                await operation().ConfigureAwait(false);
                return true;
            },
            timeout,
            time,
            onRetry,
            cancellationToken);
    }

    private static bool IsTransientItself(Exception ex) => ex switch
    {
        RedisConnectionException or RedisTimeoutException => true,
        TimeoutException timeout => RaisedByRedisClient(timeout),
        RedisException redis => HasTransientCode(redis.Message),
        _ => false,
    };

    /// <summary>
    /// Whether a timeout comes from StackExchange.Redis: thrown in it, or completed on a task without being thrown
    /// (no stack trace), as the client does with the replies it gives up on.
    /// </summary>
    private static bool RaisedByRedisClient(TimeoutException timeout)
        => timeout.TargetSite?.Module.Assembly == typeof(IConnectionMultiplexer).Assembly
            || string.Equals(timeout.Source, typeof(IConnectionMultiplexer).Assembly.GetName().Name, StringComparison.Ordinal);

    /// <summary>
    /// Whether a Redis error reply is transient: it starts with <c>LOADING</c>, <c>BUSY</c>, <c>TRYAGAIN</c>,
    /// <c>CLUSTERDOWN</c>, <c>MASTERDOWN</c>, <c>READONLY</c> or <c>EXECABORT</c>, as a whole word (<c>BUSY</c>, not <c>BUSYKEY</c>). For
    /// callers that hold only the reply's text, such as a failure that crossed a process boundary as a message.
    /// </summary>
    /// <param name="message">The error reply.</param>
    /// <returns><see langword="true"/> when the same command may succeed later.</returns>
    public static bool IsTransientErrorReply(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return HasTransientCode(message);
    }

    private static bool HasTransientCode(string message)
    {
        foreach (var code in TransientCodes)
        {
            if (message.StartsWith(code, StringComparison.Ordinal) && (message.Length == code.Length || message[code.Length] == ' '))
            {
                return true;
            }
        }

        return false;
    }
}

using AgentStreaming.Streaming.Diagnostics;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Resilience;

/// <summary>
/// Makes writes wait for replicas when <see cref="Options.RedisAgentStreamingOptions.ReplicaAcks"/> asks for it: a
/// <c>WAIT</c> on the connection that carried them, to the primary that holds their key. Redis replicates
/// asynchronously, so without it a primary killed a moment after a write (and replaced by its replica) loses writes
/// that were acknowledged.
/// </summary>
/// <remarks>
/// <c>WAIT</c> covers every write the connection sent before it, so one per primary after a pipelined flush confirms all
/// of that flush. A wait that times out (a replica down, far behind, or a primary left without one after a failover)
/// lets the writes count as done, counted in <c>agent_streaming.stream.write.unreplicated</c>, and the writes to that
/// primary then skip the wait for <see cref="DegradedFor"/> before trying again: a lost replica costs one timeout per
/// period, not one per write.
/// </remarks>
public sealed class RedisReplicaAcks
{
    private readonly IConnectionMultiplexer _multiplexer;
    private readonly long _timeoutMs;
    private readonly TimeProvider _time;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<System.Net.EndPoint, long> _degradedSince = new();

    /// <summary>Creates the waiter.</summary>
    /// <param name="multiplexer">The connection the writes go through (the wait must use the same connections).</param>
    /// <param name="replicas">Replicas that must acknowledge a write; 0 waits for none.</param>
    /// <param name="timeout">How long a wait lasts at most.</param>
    /// <param name="time">The clock of <see cref="DegradedFor"/>.</param>
    public RedisReplicaAcks(IConnectionMultiplexer multiplexer, int replicas, TimeSpan timeout, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        ArgumentOutOfRangeException.ThrowIfNegative(replicas);
        _multiplexer = multiplexer;
        Replicas = replicas;
        _timeoutMs = Math.Max(1, (long)timeout.TotalMilliseconds);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>How long writes to a primary skip the wait after one timed out there: 10 s.</summary>
    public static TimeSpan DegradedFor { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Replicas that must acknowledge a write.</summary>
    public int Replicas { get; }

    /// <summary>Whether writes wait for replicas at all.</summary>
    public bool Enabled => Replicas > 0;

    /// <summary>The primary that holds <paramref name="key"/> (on a single server, the server).</summary>
    /// <param name="key">A key written.</param>
    /// <returns>Its server.</returns>
    public IServer PrimaryOf(RedisKey key) => _multiplexer.GetServer(key, flags: CommandFlags.DemandMaster);

    /// <summary>
    /// Waits until <see cref="Replicas"/> replicas of the primary that holds <paramref name="key"/> have every write this
    /// process sent to it so far, or the timeout passed; returns at once when <see cref="Enabled"/> is false.
    /// </summary>
    /// <param name="key">A key just written.</param>
    /// <returns>A task that completes when the writes are replicated (or the wait timed out).</returns>
    /// <exception cref="RedisException">The primary could not be reached: the writes may be lost; send them again.</exception>
    public Task WaitAsync(RedisKey key) => Enabled ? WaitAsync(PrimaryOf(key)) : Task.CompletedTask;

    /// <summary>Waits until <see cref="Replicas"/> replicas of <paramref name="primary"/> have every write this process sent to it so far.</summary>
    /// <param name="primary">The primary written to.</param>
    /// <returns>A task that completes when the writes are replicated (or the wait timed out).</returns>
    /// <exception cref="RedisException">The primary could not be reached: the writes may be lost; send them again.</exception>
    public async Task WaitAsync(IServer primary)
    {
        ArgumentNullException.ThrowIfNull(primary);
        var endPoint = primary.EndPoint;
        if (_degradedSince.TryGetValue(endPoint, out var since))
        {
            if (_time.GetElapsedTime(since) < DegradedFor)
            {
                StreamingDiagnostics.UnreplicatedWritesCounter.Add(1);
                return;
            }

            _degradedSince.TryRemove(endPoint, out _);
        }

        var acknowledged = (long)await primary.ExecuteAsync("WAIT", Replicas, _timeoutMs).ConfigureAwait(false);
        if (acknowledged < Replicas)
        {
            _degradedSince[endPoint] = _time.GetTimestamp();
            StreamingDiagnostics.UnreplicatedWritesCounter.Add(1);
        }
    }
}

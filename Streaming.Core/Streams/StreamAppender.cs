using System.Diagnostics;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams;

/// <summary>
/// Sends the writers' batches to Redis through the append script (<see cref="RedisStreamScripts.Append"/>). On a
/// single server it is the process-wide write pump: the batches of every run that are waiting at the same moment go
/// out together as one script call, so Redis runs one <c>EVALSHA</c> for many runs instead of one per run per flush,
/// and the call announces the streams it changed once, on the changes channel. On Redis Cluster every batch is a call
/// of its own (the keys of one call must share a hash slot) and announces itself on its run's sharded channel.
/// </summary>
/// <remarks>
/// Each run's batch is applied on its own inside the call, so the per-run guarantees hold as if it were sent alone:
/// order, fencing, idempotent re-sends and the TTL refresh. At most <see cref="MaxCallsInFlight"/> calls are in
/// flight; batches that arrive meanwhile wait for the next call, so under load a call carries many runs and at low
/// load a batch goes out at once.
/// <para>A call belongs to no run's trace (it carries the batches of whichever runs were waiting), so it is sent with
/// no ambient span: Redis tracing then sees a command without a parent, which the services' sampler treats as
/// background work (<c>AgentStreaming:Telemetry:TraceBackgroundWork</c>). A run's trace shows its claim, terminal
/// batch, re-sends and failures as <c>agent_stream append</c> spans instead, with the attempt's totals.</para>
/// </remarks>
internal sealed class StreamAppender
{
    /// <summary>Combined calls in flight at once: Redis runs one while the next is on its way.</summary>
    internal const int MaxCallsInFlight = 2;

    private readonly IDatabase _database;
    private readonly RedisValue _changesChannel;
    private readonly bool _combine;
    private readonly int _maxEntriesPerCall;
    private readonly object _gate = new();
    private List<Submission> _queue = [];
    private int _inFlight;

    /// <summary>Creates the appender.</summary>
    /// <param name="database">The database the writers write to.</param>
    /// <param name="changesChannel">The channel each call announces the changed stream keys on (single server), or <see langword="null"/> (Redis Cluster: one call per batch, announced per run).</param>
    /// <param name="maxEntriesPerCall">How many entries one combined call carries at most (a larger batch goes alone).</param>
    public StreamAppender(IDatabase database, string? changesChannel, int maxEntriesPerCall)
    {
        _database = database;
        _combine = changesChannel is not null;
        _changesChannel = changesChannel ?? string.Empty;
        _maxEntriesPerCall = Math.Max(1, maxEntriesPerCall);
    }

    /// <summary>Appends one run's batch.</summary>
    /// <param name="stream">The run's stream key.</param>
    /// <param name="meta">The run's metadata key.</param>
    /// <param name="arguments">The batch's arguments, as the script takes them per run (TTL first).</param>
    /// <param name="entries">How many entries the batch holds.</param>
    /// <returns>The last entry id the run's stream holds after the batch (empty when it holds none).</returns>
    /// <exception cref="RedisServerException">The script refused the batch (fenced, terminated, expired, out of order) or Redis failed it.</exception>
    /// <exception cref="RedisConnectionException">Redis could not be reached.</exception>
    public Task<string> AppendAsync(RedisKey stream, RedisKey meta, RedisValue[] arguments, int entries)
    {
        var submission = new Submission(stream, meta, arguments, Math.Max(1, entries));
        if (!_combine)
        {
            _ = SendAsync([submission]);
            return submission.Task;
        }

        List<Submission>? batch = null;
        lock (_gate)
        {
            _queue.Add(submission);
            if (_inFlight < MaxCallsInFlight)
            {
                _inFlight++;
                batch = TakeLocked();
            }
        }

        if (batch is not null)
        {
            _ = SendLoopAsync(batch);
        }

        return submission.Task;
    }

    private async Task SendLoopAsync(List<Submission> batch)
    {
        // Once for the loop (an async method's change stays inside it), not per call.
        Activity.Current = null;
        while (true)
        {
            await SendAsync(batch).ConfigureAwait(false);
            lock (_gate)
            {
                if (_queue.Count == 0)
                {
                    _inFlight--;
                    return;
                }

                batch = TakeLocked();
            }
        }
    }

    private List<Submission> TakeLocked()
    {
        var taken = 0;
        var entries = 0;
        while (taken < _queue.Count && (taken == 0 || entries + _queue[taken].Entries <= _maxEntriesPerCall))
        {
            entries += _queue[taken].Entries;
            taken++;
        }

        if (taken == _queue.Count)
        {
            var all = _queue;
            _queue = [];
            return all;
        }

        var some = _queue.GetRange(0, taken);
        _queue.RemoveRange(0, taken);
        return some;
    }

    /// <summary>Sends one call for the batches and completes each; never throws.</summary>
    private async Task SendAsync(List<Submission> batch)
    {
        if (Activity.Current is not null)
        {
            Activity.Current = null;
        }

        var keys = new RedisKey[batch.Count * 2];
        var length = 2;
        foreach (var submission in batch)
        {
            length += 1 + submission.Arguments.Length;
        }

        var values = new RedisValue[length];
        values[0] = _changesChannel;
        values[1] = batch.Count;
        var p = 2;
        for (var i = 0; i < batch.Count; i++)
        {
            var submission = batch[i];
            keys[2 * i] = submission.Stream;
            keys[(2 * i) + 1] = submission.Meta;
            values[p++] = submission.Arguments.Length;
            submission.Arguments.CopyTo(values, p);
            p += submission.Arguments.Length;
        }

        RedisResult[] replies;
        try
        {
            replies = (RedisResult[])(await _database.ScriptEvaluateAsync(RedisStreamScripts.Append, keys, values).ConfigureAwait(false))!;
        }
        catch (Exception ex)
        {
            foreach (var submission in batch)
            {
                submission.SetException(ex);
            }

            return;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            try
            {
                if (i < replies.Length)
                {
                    batch[i].Complete(replies[i]);
                }
                else
                {
                    batch[i].SetException(new RedisServerException(RedisErrorKind.UnknownError, CommandFlags.None, $"The append script answered {replies.Length} of {batch.Count} batches."));
                }
            }
            catch (Exception ex) when (ex is InvalidCastException or IndexOutOfRangeException)
            {
                // A reply of an unexpected shape fails this batch, never the others or the pump.
                batch[i].TrySetException(new RedisServerException(RedisErrorKind.UnknownError, CommandFlags.None, $"The append script answered a batch with an unexpected reply: {ex.Message}"));
            }
        }
    }

    /// <summary>One run's batch waiting for, or in, a call.</summary>
    private sealed class Submission(RedisKey stream, RedisKey meta, RedisValue[] arguments, int entries)
        : TaskCompletionSource<string>(TaskCreationOptions.None)
    {
        // Completed inline: the continuation is the writer's own pump (its callers resume on the thread pool, see
        // RedisAgentStreamWriter.WaitForPumpAsync), which queues its next batch for the next call.
        public RedisKey Stream { get; } = stream;

        public RedisKey Meta { get; } = meta;

        public RedisValue[] Arguments { get; } = arguments;

        public int Entries { get; } = entries;

        public void Complete(RedisResult reply)
        {
            if (reply.Resp2Type == ResultType.Array)
            {
                var refusal = (RedisResult[])reply!;
                SetException(new RedisServerException(RedisErrorKind.UnknownError, CommandFlags.None, refusal.Length > 0 && (string?)refusal[0] is { Length: > 0 } message ? message : "The append script refused the batch."));
            }
            else
            {
                SetResult((string?)reply ?? string.Empty);
            }
        }
    }
}

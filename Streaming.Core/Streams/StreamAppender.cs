using System.Diagnostics;
using System.Text;
using AgentStreaming.Streaming.Streams.Writing;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams;

/// <summary>
/// The process-wide write pump: sends the writers' batches as plain <c>XADD</c>s with the ids the writers assigned
/// (<see cref="EntryIds"/>), the batches of every run that are waiting at the same moment pipelined together in one
/// flush (on Redis Cluster, one queue and its own flushes per node, so a node that answers late holds up only its own
/// runs). No script runs on this path: <c>XADD</c> itself refuses a duplicate or a stale claim's entry, and
/// <c>NOMKSTREAM</c> refuses a write to a stream that expired.
/// </summary>
/// <remarks>
/// Once Redis has answered a flush, the entries it stored are announced, so a reader is never handed an entry Redis
/// refused: on a single server one <c>PUBLISH</c> on the changes channel per flush (small batches carry their
/// entries, see <see cref="Announcement"/>), on Redis Cluster one <c>SPUBLISH</c> per batch on the run's sharded
/// channel, in the same format. The process's own tail is handed the entries in memory first. At most
/// <see cref="MaxCallsInFlight"/> flushes are in flight (per node on a cluster); batches that arrive meanwhile wait for
/// the next, so under load a flush carries many runs and at low load a batch goes out at once.
/// <para>A flush belongs to no run's trace (it carries the batches of whichever runs were waiting), so it is sent with
/// no ambient span: Redis tracing then sees commands without a parent, which the services' sampler treats as
/// background work (<c>AgentStreaming:Telemetry:TraceBackgroundWork</c>). A run's trace shows its claim, terminal
/// batch, re-sends and failures as <c>agent_stream append</c> spans instead, with the attempt's totals.</para>
/// </remarks>
internal sealed class StreamAppender
{
    /// <summary>Flushes in flight at once: Redis runs one while the next is on its way.</summary>
    internal const int MaxCallsInFlight = 2;

    /// <summary>A batch carries its entries in its announcement up to this many entries, each value up to <see cref="MaxAnnouncedValue"/> bytes.</summary>
    private const int MaxAnnouncedEntries = 16;

    private const int MaxAnnouncedValue = 4096;

    private readonly IDatabase _database;
    private readonly RedisChannel _changesChannel;
    private readonly bool _announceChanges;
    private readonly int _maxEntriesPerCall;
    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly string _origin;
    private readonly Action<List<AppendBatch>, long>? _handOver;
    private readonly Resilience.RedisReplicaAcks? _replicas;
    private readonly Func<RedisKey, object>? _nodeOf;
    private readonly Lane _lane = new();
    private readonly Dictionary<object, Lane> _lanes = [];
    private AnnouncementWriter? _announcement;

    /// <summary>Creates the appender.</summary>
    /// <param name="database">The database the writers write to.</param>
    /// <param name="changesChannel">The channel each flush announces the changed streams on (single server), or <see langword="null"/> (Redis Cluster: each batch is announced on its run's channel).</param>
    /// <param name="maxEntriesPerCall">How many entries one flush carries at most (a larger batch goes alone).</param>
    /// <param name="time">The clock that stamps the entries' <c>timestamp</c>.</param>
    /// <param name="origin">Names this pump in its announcements, so the process's own tail skips their echo.</param>
    /// <param name="handOver">Hands a flush's batches and their timestamp to the process's own tail in memory, if it has one, once Redis answered them and before they are announced.</param>
    /// <param name="replicas">When it is enabled, a flush counts only once the replicas of every primary it wrote to acknowledged it (one <c>WAIT</c> per primary); a batch whose wait failed fails, and its writer sends it again.</param>
    /// <param name="nodeOf">
    /// On Redis Cluster, names the node that serves a key: each node's batches then go in flushes of their own, so a
    /// node that answers late holds up only its own runs. <see langword="null"/>: one queue (single server).
    /// </param>
    public StreamAppender(IDatabase database, string? changesChannel, int maxEntriesPerCall, TimeProvider time, string origin = "", Action<List<AppendBatch>, long>? handOver = null, Resilience.RedisReplicaAcks? replicas = null, Func<RedisKey, object>? nodeOf = null)
    {
        _nodeOf = nodeOf;
        _replicas = replicas is { Enabled: true } ? replicas : null;
        _origin = origin;
        _handOver = handOver;
        _database = database;
        _announceChanges = changesChannel is not null;
        _changesChannel = RedisChannel.Literal(changesChannel ?? string.Empty);
        _maxEntriesPerCall = Math.Max(1, maxEntriesPerCall);
        _time = time;
    }

    /// <summary>Appends one run's batch; the batch's callback is called once Redis answered it (see <see cref="AppendBatch.Outcome"/> and <see cref="AppendBatch.Failure"/>).</summary>
    public void Append(AppendBatch batch) => Enqueue(batch, waiter: null);

    /// <summary>Appends one run's batch and waits for Redis's answer.</summary>
    /// <returns>What Redis did with it; faults with the Redis failure when it could not be sent or answered.</returns>
    public Task<AppendOutcome> AppendAsync(AppendBatch batch)
    {
        var waiter = new TaskCompletionSource<AppendOutcome>();
        Enqueue(batch, waiter);
        return waiter.Task;
    }

    private void Enqueue(AppendBatch batch, TaskCompletionSource<AppendOutcome>? waiter)
    {
        batch.Reset(waiter);
        var node = NodeOf(batch.Stream);
        List<AppendBatch>? flush = null;
        Lane? lane;
        lock (_gate)
        {
            if (node is null)
            {
                lane = _lane;
            }
            else if (!_lanes.TryGetValue(node, out lane))
            {
                _lanes[node] = lane = new Lane();
            }

            lane.Queue.Add(batch);
            if (lane.InFlight < MaxCallsInFlight)
            {
                lane.InFlight++;
                flush = TakeLocked(lane);
            }
        }

        if (flush is not null)
        {
            _ = SendLoopAsync(lane, flush);
        }
    }

    /// <summary>The node serving <paramref name="key"/> now, or <see langword="null"/> for the shared queue.</summary>
    private object? NodeOf(RedisKey key)
    {
        if (_nodeOf is null)
        {
            return null;
        }

        try
        {
            return _nodeOf(key);
        }
        catch (Exception ex) when (ex is RedisException or InvalidOperationException or ArgumentException)
        {
            // Only the grouping depends on it (StackExchange.Redis routes each command itself): use the shared queue.
            return null;
        }
    }

    private async Task SendLoopAsync(Lane lane, List<AppendBatch> flush)
    {
        // Once for the loop (an async method's change stays inside it), not per flush.
        Activity.Current = null;
        while (true)
        {
            await SendAsync(flush).ConfigureAwait(false);
            lock (_gate)
            {
                if (lane.Queue.Count == 0)
                {
                    lane.InFlight--;
                    return;
                }

                flush = TakeLocked(lane);
            }
        }
    }

    private List<AppendBatch> TakeLocked(Lane lane)
    {
        var queue = lane.Queue;
        var taken = 0;
        var entries = 0;
        while (taken < queue.Count && (taken == 0 || entries + queue[taken].Count <= _maxEntriesPerCall))
        {
            entries += queue[taken].Count;
            taken++;
        }

        if (taken == queue.Count)
        {
            lane.Queue = [];
            return queue;
        }

        var some = queue.GetRange(0, taken);
        queue.RemoveRange(0, taken);
        return some;
    }

    /// <summary>The batches waiting for one node (or for the single server) and its flushes in flight (the appender's lock guards both).</summary>
    private sealed class Lane
    {
        public List<AppendBatch> Queue { get; set; } = [];

        public int InFlight { get; set; }
    }

    /// <summary>Sends one flush, announces what Redis stored and completes each batch; never throws.</summary>
    private async Task SendAsync(List<AppendBatch> flush)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var pipeline = _database.CreateBatch();
        foreach (var batch in flush)
        {
            batch.Send(pipeline, now);
        }

        pipeline.Execute();
        foreach (var batch in flush)
        {
            await batch.SettleAsync().ConfigureAwait(false);
        }

        if (_replicas is { } replicas)
        {
            await ConfirmAsync(replicas, flush).ConfigureAwait(false);
        }

        Announce(flush, now);
        foreach (var batch in flush)
        {
            batch.Complete();
        }
    }

    /// <summary>
    /// Waits until the replicas have the flush: one <c>WAIT</c> per primary it wrote to (on the connection that carried
    /// its writes there). A batch whose primary could not answer fails: its entries may be lost with that primary, so its
    /// writer sends them again (to the replica that took over, or to the same primary, which refuses what it holds).
    /// </summary>
    private static async Task ConfirmAsync(Resilience.RedisReplicaAcks replicas, List<AppendBatch> flush)
    {
        var waits = new Dictionary<System.Net.EndPoint, Task>();
        var byBatch = new Task?[flush.Count];
        for (var i = 0; i < flush.Count; i++)
        {
            var batch = flush[i];
            if (batch.Failure is not null || batch.Outcome == AppendOutcome.Missing)
            {
                continue;
            }

            try
            {
                var primary = replicas.PrimaryOf(batch.Stream);
                if (!waits.TryGetValue(primary.EndPoint, out var wait))
                {
                    wait = replicas.WaitAsync(primary);
                    waits.Add(primary.EndPoint, wait);
                }

                byBatch[i] = wait;
            }
            catch (Exception ex)
            {
                batch.Fail(ex);
            }
        }

        for (var i = 0; i < flush.Count; i++)
        {
            if (byBatch[i] is { } wait)
            {
                try
                {
                    await wait.ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    flush[i].Fail(ex);
                }
            }
        }
    }

    /// <summary>
    /// Announces the batches Redis stored, and those it partly refused (re-sends, stale claims) without their entries so
    /// the tails read them (fire and forget: a lost announcement is made up for by the tails' sweep).
    /// </summary>
    private void Announce(List<AppendBatch> flush, long now)
    {
        if (!_announceChanges)
        {
            // Redis Cluster: each batch on its run's sharded channel, in the run's slot, in the same format (one run each).
            AnnouncementWriter? single = null;
            foreach (var batch in flush)
            {
                if (batch.Failure is null && batch.Outcome is AppendOutcome.Stored or AppendOutcome.Refused && batch.Notify is { } notify)
                {
                    if (single is null)
                    {
                        _handOver?.Invoke(flush, now);
                        single = Interlocked.Exchange(ref _announcement, null) ?? new AnnouncementWriter();
                    }

                    single.Append("v1 ").Append(now).Append(' ').Append(_origin);
                    batch.AppendAnnouncement(single);
                    var bytes = single.ToArray();
                    single.Clear();
                    _database.Publish(notify, bytes, CommandFlags.FireAndForget);
                }
            }

            if (single is not null)
            {
                Volatile.Write(ref _announcement, single);
            }

            return;
        }

        AnnouncementWriter? message = null;
        foreach (var batch in flush)
        {
            if (batch.Failure is null && batch.Outcome is AppendOutcome.Stored or AppendOutcome.Refused)
            {
                if (message is null)
                {
                    // One buffer per flush in flight, reused: the message is written as UTF-8 once, then copied out.
                    message = Interlocked.Exchange(ref _announcement, null) ?? new AnnouncementWriter();
                    message.Append("v1 ").Append(now).Append(' ').Append(_origin);
                }

                batch.AppendAnnouncement(message);
            }
        }

        if (message is not null)
        {
            // The process's own readers get the entries as they are (no encoding, no parsing, no copy of the text).
            _handOver?.Invoke(flush, now);
            var bytes = message.ToArray();
            message.Clear();
            Volatile.Write(ref _announcement, message);
            _database.Publish(_changesChannel, bytes, CommandFlags.FireAndForget);
        }
    }

    /// <summary>Whether a batch's entries travel in its announcement: few, and each value small.</summary>
    internal static bool Detailed(AppendBatch batch)
    {
        if (batch.Count > MaxAnnouncedEntries)
        {
            return false;
        }

        foreach (var entry in batch.Entries)
        {
            // The other fields are short: sequence, timestamp, type, attempt, done, traceparent.
            if (Large(entry.Text) || Large(Writing.StreamEntryEncoder.ErrorOf(entry)) || Large(Writing.StreamEntryEncoder.DataOf(entry)))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Large(string? value) => value is not null && value.Length > MaxAnnouncedValue / 4 && Encoding.UTF8.GetByteCount(value) > MaxAnnouncedValue;
}

/// <summary>What Redis did with a batch.</summary>
internal enum AppendOutcome
{
    /// <summary>Every entry was stored by this send.</summary>
    Stored,

    /// <summary>Some entries were refused as not above the stream's last id: a re-send of entries stored before, or a stale claim's write. The writer tells which.</summary>
    Refused,

    /// <summary>The stream is gone (<c>NOMKSTREAM</c>): it expired or was evicted.</summary>
    Missing,
}

/// <summary>
/// One run's batch as the writer built it: one <c>XADD key NOMKSTREAM &lt;sequence&gt;-0 text … sequence … timestamp …
/// type … attempt … [field value]…</c> per entry (<see cref="Writing.StreamEntryEncoder"/>), and the TTL refresh when it
/// is due. Re-sent unchanged but for the timestamp.
/// </summary>
/// <remarks>
/// A writer has one batch in flight at a time, so it keeps one of these and arms it again for each batch
/// (<see cref="Arm"/>) once Redis stored the previous one: a batch costs no object of its own. The writer does not touch
/// the entries until the batch is stored or the writer has failed.
/// </remarks>
/// <param name="stream">The stream key.</param>
/// <param name="meta">The metadata key.</param>
/// <param name="notify">The run's channel on Redis Cluster, else <see langword="null"/>.</param>
/// <param name="attempt">The attempt, as the entries carry it.</param>
/// <param name="answered">Called (inline, by the pump that sent it) once Redis answered the batch, unless <see cref="StreamAppender.AppendAsync"/> waits for it.</param>
internal sealed class AppendBatch(RedisKey stream, RedisKey meta, RedisChannel? notify, string attempt, Action? answered = null)
{
    private List<AgentStreamEntry> _entries = [];
    private string? _traceParent;
    private string[] _ids = [];
    private Task<RedisValue>[] _replies = [];
    private TaskCompletionSource<AppendOutcome>? _waiter;
    private Exception? _failure;

    public RedisKey Stream => stream;

    public RedisKey Meta => meta;

    public RedisChannel? Notify => notify;

    public string Attempt => attempt;

    /// <summary>The id of the entry the batch follows ("" at the stream's start).</summary>
    public string PreviousId { get; private set; } = string.Empty;

    public long FirstSequence { get; private set; }

    /// <summary>The entries, in order.</summary>
    public List<AgentStreamEntry> Entries => _entries;

    public Refresh? TtlRefresh { get; private set; }

    public int Count => _entries.Count;

    public long LastSequence => FirstSequence + Count - 1;

    public string LastId => Count > 0 ? _ids[Count - 1] : Writing.EntryIds.Of(LastSequence);

    /// <summary>The entry id of the batch's entry <paramref name="index"/> (made once per batch, sent and announced as is).</summary>
    public string IdAt(int index) => _ids[index];

    public AppendOutcome Outcome { get; private set; }

    /// <summary>How the last send failed (Redis did not answer it, or not as expected), if it did.</summary>
    public Exception? Failure => _failure;

    /// <summary>Arms the batch with the writer's next entries.</summary>
    /// <param name="previousId">The id of the entry they follow ("" at the stream's start).</param>
    /// <param name="firstSequence">The first entry's sequence.</param>
    /// <param name="entries">The entries, in order.</param>
    /// <param name="traceParent">The <c>traceparent</c> the first entry carries, if any.</param>
    /// <param name="refresh">The TTL refresh the batch carries, if one is due.</param>
    internal void Arm(string previousId, long firstSequence, List<AgentStreamEntry> entries, string? traceParent, Refresh? refresh)
    {
        PreviousId = previousId;
        FirstSequence = firstSequence;
        _entries = entries;
        _traceParent = traceParent;
        TtlRefresh = refresh;
        if (_ids.Length < entries.Count)
        {
            _ids = new string[Math.Max(entries.Count, 2 * _ids.Length)];
            _replies = new Task<RedisValue>[_ids.Length];
        }

        for (var i = 0; i < entries.Count; i++)
        {
            _ids[i] = Writing.EntryIds.Of(firstSequence + i);
        }
    }

    /// <summary>Prepares a send: <paramref name="waiter"/> is completed with the outcome, else the batch's callback is called.</summary>
    internal void Reset(TaskCompletionSource<AppendOutcome>? waiter)
    {
        _waiter = waiter;
        _failure = null;
    }

    /// <summary>Queues the batch's commands on the flush's pipeline.</summary>
    internal void Send(IBatch pipeline, long now)
    {
        for (var i = 0; i < Count; i++)
        {
            var fields = Writing.StreamEntryEncoder.Fields(_entries[i], FirstSequence + i, now, attempt, i == 0 ? _traceParent : null);
            _replies[i] = pipeline.StreamAddAsync(stream, fields, new StreamAddOptions { MessageId = _ids[i], CreateStream = false });
        }

        if (TtlRefresh is { } refresh)
        {
            // Fire and forget: a lost refresh is made up for by the next one (each eighth of the TTL, and the terminal entry).
            _ = pipeline.KeyExpireAsync(Stream, refresh.Ttl, CommandFlags.FireAndForget);
            _ = pipeline.HashSetAsync(Meta, "seq", LastSequence, flags: CommandFlags.FireAndForget);
            _ = pipeline.KeyExpireAsync(Meta, refresh.MetaTtl, CommandFlags.FireAndForget);
        }
    }

    /// <summary>Waits for Redis's replies and sorts them into the outcome (or the failure).</summary>
    internal async Task SettleAsync()
    {
        var refused = false;
        var missing = false;
        for (var i = 0; i < Count; i++)
        {
            try
            {
                var id = await _replies[i].ConfigureAwait(false);
                missing |= id.IsNull;
            }
            catch (RedisServerException ex) when (EntryIds.IsNotGreater(ex))
            {
                refused = true;
            }
            catch (Exception ex)
            {
                _failure ??= ex;
            }
            finally
            {
                _replies[i] = null!;
            }
        }

        Outcome = missing ? AppendOutcome.Missing : refused ? AppendOutcome.Refused : AppendOutcome.Stored;
    }

    /// <summary>Marks the batch failed after Redis answered it (its replicas could not confirm it).</summary>
    internal void Fail(Exception failure) => _failure ??= failure;

    internal void Complete()
    {
        // Completed inline: the continuation is the writer's own pump, which queues its next batch for the next flush.
        if (Interlocked.Exchange(ref _waiter, null) is { } waiter)
        {
            if (_failure is not null)
            {
                waiter.TrySetException(_failure);
            }
            else
            {
                waiter.TrySetResult(Outcome);
            }

            return;
        }

        answered?.Invoke();
    }

    /// <summary>This batch's part of the changes announcement (format: <see cref="Announcement"/>).</summary>
    internal void AppendAnnouncement(AnnouncementWriter message)
    {
        message.Append('\n').Append((string)Stream!).Append(' ');
        if (Outcome != AppendOutcome.Stored || !StreamAppender.Detailed(this))
        {
            message.Append(Outcome == AppendOutcome.Stored ? PreviousId : "?").Append(" - ").Append(Attempt);
            return;
        }

        message.Append(PreviousId).Append(' ').Append(Count).Append(' ').Append(Attempt);
        for (var i = 0; i < Count; i++)
        {
            var entry = _entries[i];
            var extras = new Writing.StreamEntryEncoder.ExtraPairList();
            Writing.StreamEntryEncoder.ExtraPairs(entry, i == 0 ? _traceParent : null, ref extras);
            message.Append('\n').Append(_ids[i]).Append(' ').Append(FirstSequence + i).Append(' ').Append(entry.Kind.ToWireName())
                .Append(' ').Append(extras.Count).Append(' ').AppendValue(entry.Text ?? string.Empty);
            for (var x = 0; x < extras.Count; x++)
            {
                var (name, value) = extras[x];
                message.Append('\n').Append(name).Append(' ').AppendValue(value);
            }
        }
    }

    /// <summary>The batch's entry <paramref name="index"/> as a reader sees it (what its announcement would carry), for the process's own tail.</summary>
    /// <param name="index">The entry.</param>
    /// <param name="attempt">The batch's attempt, as a number.</param>
    /// <param name="timestamp">When the flush was sent (the entries' <c>timestamp</c>).</param>
    internal StreamChunk ChunkAt(int index, int attempt, DateTimeOffset timestamp)
    {
        var entry = _entries[index];
        return new StreamChunk(_ids[index], entry.Kind, entry.Text ?? string.Empty, FirstSequence + index, attempt, timestamp,
            Writing.StreamEntryEncoder.ErrorOf(entry), Writing.StreamEntryEncoder.DataOf(entry));
    }

    /// <summary>The TTL refresh a batch carries: <c>PEXPIRE</c> of both keys, the metadata's longer, and the written mark.</summary>
    internal readonly record struct Refresh(TimeSpan Ttl, TimeSpan MetaTtl);
}

using System.Threading.Channels;
using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Resilience;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams;

/// <summary>Pushes the live entries of run streams to the readers of a process.</summary>
internal interface IStreamTail : IAsyncDisposable
{
    /// <summary>Readers currently subscribed.</summary>
    int SubscriberCount { get; }

    /// <summary>Test seam: entries for which this returns <see langword="true"/> are skipped as if lost on the way.</summary>
    Func<StreamChunk, bool>? LoseEntry { get; set; }

    /// <summary>Starts delivering the entries of <paramref name="key"/> after <paramref name="after"/>.</summary>
    TailSubscription Subscribe(string key, StreamCursor after);

    /// <summary>Stops delivering to a subscription.</summary>
    void Unsubscribe(TailSubscription subscription);

    /// <summary>A paused subscription drained its buffer: read for it again.</summary>
    void Wake(TailSubscription subscription);
}

/// <summary>One reader's place on the shared tail: entries arrive in <see cref="Reader"/>.</summary>
internal sealed class TailSubscription : IDisposable
{
    private readonly IStreamTail _tail;
    private readonly Channel<StreamChunk> _channel = Channel.CreateUnbounded<StreamChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private int _disposed;

    private readonly int _resumeBelow;
    private volatile bool _paused;

    public TailSubscription(IStreamTail tail, string key, StreamCursor after, int resumeBelow)
    {
        _tail = tail;
        _resumeBelow = resumeBelow;
        Key = key;
        Delivered = after;
    }

    public string Key { get; }

    /// <summary>The last entry handed to the reader (the tail's lock guards it).</summary>
    public StreamCursor Delivered { get; private set; }

    public bool IsComplete { get; private set; }

    public bool Paused
    {
        get => _paused;
        set => _paused = value;
    }

    private int _buffered;

    public int Buffered => Volatile.Read(ref _buffered);

    public ChannelReader<StreamChunk> Reader => _channel.Reader;

    internal void Push(StreamChunk chunk, StreamCursor cursor)
    {
        Delivered = cursor;
        Interlocked.Increment(ref _buffered);
        _channel.Writer.TryWrite(chunk);
        if (chunk.IsTerminal)
        {
            IsComplete = true;
            _channel.Writer.TryComplete();
        }
    }

    internal void Skip(StreamCursor cursor) => Delivered = cursor;

    /// <summary>
    /// Where a key must be read from for its readers: the position of the furthest-behind reader that can take more.
    /// Readers whose buffer is full are marked paused and left out (they are read for again once they drain). Call
    /// under the tail's lock.
    /// </summary>
    /// <returns>The position, or <see langword="null"/> when no reader of the key can take entries now.</returns>
    internal static StreamCursor? ReadFrom(List<TailSubscription> subscriptions, int bufferLimit)
    {
        StreamCursor? from = null;
        foreach (var subscription in subscriptions)
        {
            if (subscription.IsComplete)
            {
                continue;
            }

            if (subscription.Buffered >= bufferLimit)
            {
                subscription.Paused = true;
                continue;
            }

            subscription.Paused = false;
            if (from is null || subscription.Delivered < from.Value)
            {
                from = subscription.Delivered;
            }
        }

        return from;
    }

    /// <summary>
    /// Hands entries read from Redis right after <paramref name="readFrom"/> (so without a gap) to the subscribers that
    /// had received everything up to that position; a subscriber further back takes none of them and is read from its
    /// own position next. Call under the tail's lock.
    /// </summary>
    internal static void Offer(List<TailSubscription> subscriptions, StreamCursor readFrom, IEnumerable<StreamChunk> chunks, Func<StreamChunk, bool>? loseEntry)
    {
        foreach (var chunk in chunks)
        {
            OfferOne(subscriptions, readFrom, chunk, loseEntry);
        }
    }

    /// <inheritdoc cref="Offer(List{TailSubscription}, StreamCursor, IEnumerable{StreamChunk}, Func{StreamChunk, bool}?)"/>
    internal static void Offer(List<TailSubscription> subscriptions, StreamCursor readFrom, ReadOnlySpan<StreamChunk> chunks, Func<StreamChunk, bool>? loseEntry)
    {
        foreach (var chunk in chunks)
        {
            OfferOne(subscriptions, readFrom, chunk, loseEntry);
        }
    }

    private static void OfferOne(List<TailSubscription> subscriptions, StreamCursor readFrom, in StreamChunk chunk, Func<StreamChunk, bool>? loseEntry)
    {
        if (!StreamCursor.TryParse(chunk.EntryId, out var cursor))
        {
            return;
        }

        foreach (var subscription in subscriptions)
        {
            // A paused reader (its buffer is full) takes nothing: it is read from its own position once it drains.
            if (!subscription.IsComplete && !subscription.Paused && subscription.Delivered >= readFrom && cursor > subscription.Delivered)
            {
                if (loseEntry?.Invoke(chunk) == true)
                {
                    subscription.Skip(cursor);
                    continue;
                }

                subscription.Push(chunk, cursor);
            }
        }
    }

    internal void Fail(Exception error)
    {
        IsComplete = true;
        _channel.Writer.TryComplete(error);
    }

    /// <summary>Called by the reader after it drained entries: rejoins the tail when it had been paused.</summary>
    public void OnDrained()
    {
        if (Interlocked.Decrement(ref _buffered) < _resumeBelow && _paused)
        {
            Paused = false;
            _tail.Wake(this);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            IsComplete = true;
            _tail.Unsubscribe(this);
        }
    }
}

/// <summary>What every shared tail does the same way: read an <c>XREAD</c> reply, and end its readers' reads.</summary>
internal static class Tails
{
    /// <summary>The streams of an <c>XREAD</c> reply (RESP2 array of pairs or RESP3 map), each with its entries.</summary>
    /// <param name="reply">The reply; a null reply (nothing new) has none.</param>
    /// <returns>The key and entries of each stream in the reply.</returns>
    public static List<(string Key, RedisResult[] Entries)> Streams(RedisResult reply)
    {
        var streams = new List<(string, RedisResult[])>();
        if (reply.IsNull)
        {
            return streams;
        }

        var items = (RedisResult[])reply!;
        var isMap = reply.Resp3Type == ResultType.Map;
        var pairCount = isMap ? items.Length / 2 : items.Length;
        for (var p = 0; p < pairCount; p++)
        {
            if (isMap)
            {
                streams.Add((items[2 * p].ToString(), (RedisResult[])items[(2 * p) + 1]!));
            }
            else
            {
                var pair = (RedisResult[])items[p]!;
                streams.Add((pair[0].ToString(), (RedisResult[])pair[1]!));
            }
        }

        return streams;
    }

    /// <summary>Fails the reads of readers whose tail could not reach Redis within its reconnect deadline, or met a failure retrying cannot fix.</summary>
    public static void GiveUp(IReadOnlyCollection<TailSubscription> failed, ILogger logger, TimeSpan elapsed, Exception cause)
    {
        StreamingLog.TailGaveUp(logger, elapsed, failed.Count, cause);
        var error = new AgentStreamUnavailableException(
            RedisFailurePolicy.IsTransient(cause)
                ? $"Redis could not be reached for {elapsed.TotalSeconds:0.#} s while waiting for stream entries. Check that Redis is running and reachable, then resume from the last entry id you received."
                : $"Redis failed the live read of stream entries: {cause.Message} Resume from the last entry id you received.",
            cause);
        foreach (var subscription in failed)
        {
            subscription.Fail(error);
        }
    }

    /// <summary>Fails the reads still open when the tail is disposed.</summary>
    public static void Disposed(IEnumerable<TailSubscription> open)
    {
        foreach (var subscription in open)
        {
            subscription.Fail(new ObjectDisposedException(nameof(RedisStreamResponseHandler), "The stream reader was disposed while a read was in progress."));
        }
    }
}

using System.Threading.Channels;

namespace AgentStreaming.Streaming.Streams.Tails;

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

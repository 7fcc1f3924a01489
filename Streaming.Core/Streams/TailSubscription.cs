using System.Threading.Channels;

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
    /// Hands entries read from Redis right after <paramref name="readFrom"/> (so without a gap) to the subscribers that
    /// had received everything up to that position; a subscriber further back takes none of them and is read from its
    /// own position next. Call under the tail's lock.
    /// </summary>
    internal static void Offer(List<TailSubscription> subscriptions, StreamCursor readFrom, IEnumerable<StreamChunk> chunks, Func<StreamChunk, bool>? loseEntry)
    {
        foreach (var chunk in chunks)
        {
            if (!StreamCursor.TryParse(chunk.EntryId, out var cursor))
            {
                continue;
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

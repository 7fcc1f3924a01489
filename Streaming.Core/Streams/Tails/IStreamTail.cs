namespace AgentStreaming.Streaming.Streams.Tails;

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

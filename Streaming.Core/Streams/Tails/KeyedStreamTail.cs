using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Options;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Tails;

/// <summary>A live stream key of a <see cref="KeyedStreamTail{TKey}"/> and the readers of it in this process.</summary>
/// <param name="key">The stream key.</param>
internal class TailKey(string key)
{
    public string Key { get; } = key;

    /// <summary>The readers of the key (the tail's lock guards the list).</summary>
    public List<TailSubscription> Subscriptions { get; } = [];
}

/// <summary>
/// The skeleton of the tails driven by the writers' announcements (<see cref="AnnouncedStreamTail"/> on a single
/// server, <see cref="ClusterStreamTail"/> on Redis Cluster): the readers of each live key, the tail's own connection
/// (<see cref="TailConnection"/>), the sweep that reads every key each <see cref="RedisAgentStreamingOptions.TailBlockTimeout"/>,
/// giving readers up, and disposal. A tail adds how it listens for announcements and how it reads keys.
/// </summary>
/// <typeparam name="TKey">What the tail keeps per live key.</typeparam>
internal abstract class KeyedStreamTail<TKey> : IStreamTail
    where TKey : TailKey
{
    private ITimer? _sweep;
    private int _count;

    /// <param name="configuration">The settings of the tail's own connection (a fresh copy per call).</param>
    /// <param name="options">The options.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="time">The clock of the sweep and the back-off.</param>
    protected KeyedStreamTail(Func<ConfigurationOptions> configuration, RedisAgentStreamingOptions options, ILogger logger, TimeProvider time)
    {
        // Announcements sent while the subscription connection was down are lost: read every key again.
        Connection = new TailConnection(configuration, ReadAll);
        Options = options;
        Logger = logger;
        Time = time;
    }

    /// <inheritdoc />
    public int SubscriberCount => Volatile.Read(ref _count);

    /// <inheritdoc />
    public Func<StreamChunk, bool>? LoseEntry { get; set; }

    protected RedisAgentStreamingOptions Options { get; }

    protected ILogger Logger { get; }

    protected TimeProvider Time { get; }

    /// <summary>The tail's own connection (subscriptions; reads too on a single server).</summary>
    protected TailConnection Connection { get; }

    /// <summary>Guards <see cref="Keys"/>, the keys' subscription lists and the tails' own state.</summary>
    protected object Gate { get; } = new();

    /// <summary>The live keys of this process.</summary>
    protected Dictionary<string, TKey> Keys { get; } = new(StringComparer.Ordinal);

    /// <summary>Cancelled when the tail is disposed.</summary>
    protected CancellationTokenSource Stopping { get; } = new();

    /// <inheritdoc />
    public TailSubscription Subscribe(string key, StreamCursor after)
    {
        ObjectDisposedException.ThrowIf(Stopping.IsCancellationRequested, this);
        var subscription = new TailSubscription(this, key, after, Math.Max(1, Options.ReaderBufferLimit / 2));
        TKey? state;
        bool listen;
        lock (Gate)
        {
            var added = false;
            if (!Keys.TryGetValue(key, out state))
            {
                Keys[key] = state = CreateKey(key);
                added = true;
            }

            state.Subscriptions.Add(subscription);
            _count++;
            _sweep ??= Time.CreateTimer(static s => ((KeyedStreamTail<TKey>)s!).ReadAll(), this, Options.TailBlockTimeout, Options.TailBlockTimeout);
            listen = SubscribedLocked(state, added);
        }

        StreamingDiagnostics.LiveReadersCounter.Add(1);
        Subscribed(state, listen);
        return subscription;
    }

    /// <inheritdoc />
    public void Unsubscribe(TailSubscription subscription)
    {
        TKey? emptied = null;
        lock (Gate)
        {
            if (Keys.TryGetValue(subscription.Key, out var state) && state.Subscriptions.Remove(subscription))
            {
                _count--;
                StreamingDiagnostics.LiveReadersCounter.Add(-1);
                if (state.Subscriptions.Count == 0)
                {
                    Keys.Remove(subscription.Key);
                    emptied = state;
                }
            }
        }

        if (emptied is not null)
        {
            Emptied(emptied);
        }
    }

    /// <inheritdoc />
    public abstract void Wake(TailSubscription subscription);

    /// <summary>What the tail keeps for a key that got its first reader.</summary>
    protected abstract TKey CreateKey(string key);

    /// <summary>A reader joined <paramref name="state"/> (under the lock).</summary>
    /// <param name="state">The key the reader joined.</param>
    /// <param name="added">Whether the key is new to the tail.</param>
    /// <returns>Whether <see cref="Subscribed"/> must start listening for announcements.</returns>
    protected abstract bool SubscribedLocked(TKey state, bool added);

    /// <summary>A reader joined <paramref name="state"/> (after the lock): listen when asked, and read the key.</summary>
    protected abstract void Subscribed(TKey state, bool listen);

    /// <summary>The last reader of a key left (after the lock).</summary>
    protected virtual void Emptied(TKey state)
    {
    }

    /// <summary>Reads every key: on the sweep, and when the subscription connection came back.</summary>
    protected abstract void ReadAll();

    /// <summary>Clears what the tail keeps besides <see cref="Keys"/> when it is disposed (under the lock).</summary>
    protected virtual void DisposingLocked()
    {
    }

    /// <summary>Fails the reads of the readers of <paramref name="states"/> (every key when <see langword="null"/>).</summary>
    protected void GiveUp(IEnumerable<TKey>? states, Exception cause, TimeSpan elapsed)
    {
        List<TailSubscription> failed;
        lock (Gate)
        {
            failed = (states ?? Keys.Values).SelectMany(k => k.Subscriptions).ToList();
        }

        StreamTails.GiveUp(failed, Logger, elapsed, cause);
    }

    /// <summary>Stops the sweep, fails the reads still open and closes the tail's connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Stopping.IsCancellationRequested)
        {
            return;
        }

        await Stopping.CancelAsync().ConfigureAwait(false);
        List<TailSubscription> open;
        lock (Gate)
        {
            _sweep?.Dispose();
            open = Keys.Values.SelectMany(k => k.Subscriptions).ToList();
            Keys.Clear();
            DisposingLocked();
        }

        StreamTails.Disposed(open);

        await Connection.DisposeAsync().ConfigureAwait(false);
    }
}

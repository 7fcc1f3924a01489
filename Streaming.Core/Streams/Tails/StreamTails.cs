using AgentStreaming.Streaming.Diagnostics;
using AgentStreaming.Streaming.Resilience;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Streams.Tails;

/// <summary>What every shared tail does the same way: read an <c>XREAD</c> reply, and end its readers' reads.</summary>
internal static class StreamTails
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

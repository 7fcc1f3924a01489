using System.Globalization;

namespace AgentStreaming.Streaming.Streams.Writing;

/// <summary>
/// The entry ids the writer assigns: an entry's id is <c>&lt;sequence&gt;-0</c>, so its sequence is its position and
/// its cursor, and Redis itself refuses a write whose id is not greater than the stream's last (a duplicate, or a
/// stale claim's entry). Each claim of a run's stream starts a new epoch at the next multiple of <see cref="Stride"/>
/// above everything the stream held: its <c>reset</c> entry (when entries exist) or an invisible floor takes the id
/// <c>base-0</c> / <c>base-1</c>, and its entries follow from <c>base + 1</c>, so every entry of an older claim is
/// refused by <c>XADD</c> from then on, with no script on the write path.
/// </summary>
internal static class EntryIds
{
    /// <summary>Sequences reserved per claim: a claim's entries are <c>base + 1</c> … <c>base + Stride - 1</c>.</summary>
    public const long Stride = 1_000_000;

    /// <summary>The entry id of a sequence: <c>&lt;sequence&gt;-0</c>.</summary>
    public static string Of(long sequence) => string.Create(CultureInfo.InvariantCulture, $"{sequence}-0");

    /// <summary>The claim (epoch) a sequence belongs to.</summary>
    public static long EpochOf(long sequence) => sequence / Stride;

    /// <summary>The error Redis answers an <c>XADD</c> whose id is not greater than the stream's last id.</summary>
    public static bool IsNotGreater(Exception ex)
        => ex is StackExchange.Redis.RedisServerException server && server.Message.Contains("equal or smaller than the target stream top item", StringComparison.Ordinal);
}

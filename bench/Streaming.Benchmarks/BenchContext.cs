using AgentStreaming.Benchmarks.Reference;
using AgentStreaming.Streaming.Options;
using AgentStreaming.Streaming.Streams;
using StackExchange.Redis;

namespace AgentStreaming.Benchmarks;

/// <summary>The connections of a run: one multiplexer for our code, one for the reference, one for bookkeeping.</summary>
internal sealed class BenchContext(
    IConnectionMultiplexer ours,
    IConnectionMultiplexer reference,
    IConnectionMultiplexer admin,
    BenchSettings settings,
    TextWriter log,
    Action<RedisAgentStreamingOptions>? tune = null)
{
    public static readonly TimeSpan Ttl = TimeSpan.FromMinutes(10);

    public IConnectionMultiplexer Ours { get; } = ours;

    public IConnectionMultiplexer Reference { get; } = reference;

    public IDatabase Admin { get; } = admin.GetDatabase();

    public BenchSettings Settings { get; } = settings;

    public TextWriter Log { get; } = log;

    public OriginalSampleStreamHandler ReferenceHandler { get; } = new(reference, Ttl);

    /// <summary>A handler with default options (each latency scenario gets its own shared tail).</summary>
    /// <param name="liveRead">How the handler's readers learn of new entries (the reference writer does not announce them).</param>
    public RedisStreamResponseHandler NewHandler(LiveReadMode liveRead = LiveReadMode.Announced)
    {
        var options = new RedisAgentStreamingOptions { StreamTtl = Ttl, LiveRead = liveRead };
        tune?.Invoke(options);
        return new(Ours, Microsoft.Extensions.Options.Options.Create(options));
    }

    /// <summary>Unique ids per scenario, valid as run ids and as conversation ids.</summary>
    public static string[] NewIds(int count)
    {
        var ids = new string[count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = RunIds.New();
        }

        return ids;
    }

    /// <summary>Removes a scenario's keys (stream and, for our writer, its meta hash) so Redis stays small.</summary>
    /// <remarks>One <c>DEL</c> per run (a run's keys share a hash slot), pipelined, so it works on Redis Cluster too.</remarks>
    public async Task DeleteAsync(IEnumerable<string> ids)
    {
        var keys = new StreamKeys("agent-stream:");
        foreach (var chunk in ids.Chunk(1000))
        {
            await Task.WhenAll(chunk.Select(id => Admin.KeyDeleteAsync([keys.Stream(id), keys.Meta(id)]))).ConfigureAwait(false);
        }
    }
}

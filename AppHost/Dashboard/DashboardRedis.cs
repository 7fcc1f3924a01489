using System.Globalization;
using AgentStreaming.AppHost.Hosting;
using StackExchange.Redis;

namespace AgentStreaming.AppHost.Dashboard;

/// <summary>A conversation in the Redis index (<c>durable-agents:{serviceId}:conversations</c>).</summary>
/// <param name="Agent">The agent.</param>
/// <param name="ConversationId">The conversation.</param>
/// <param name="LastActivity">When a run was last accepted or finished.</param>
internal sealed record IndexedConversation(string Agent, string ConversationId, DateTimeOffset LastActivity);

/// <summary>One entry of a run stream (<c>agent-stream:{runId}</c>) as the dashboard shows it.</summary>
/// <param name="Id">The Redis Stream entry id.</param>
/// <param name="Type">text, reset, tool_call, tool_result, usage, done, error, cancelled.</param>
/// <param name="Text">The chunk text.</param>
/// <param name="Sequence">The run-wide sequence number.</param>
/// <param name="Attempt">The attempt that wrote it.</param>
/// <param name="Timestamp">Unix ms when written.</param>
/// <param name="Error">The message of error and cancelled entries.</param>
/// <param name="Data">Compact JSON of non-text entries.</param>
/// <param name="TraceParent">The W3C trace context on an attempt's first entry.</param>
internal sealed record RunStreamEntry(string Id, string Type, string Text, long? Sequence, int? Attempt, long? Timestamp, string? Error, string? Data, string? TraceParent)
{
    /// <summary>Whether this entry ends the run.</summary>
    public bool IsTerminal => Type is "done" or "error" or "cancelled";

    /// <summary>The trace id in <see cref="TraceParent"/> (<c>00-{traceId}-{spanId}-{flags}</c>).</summary>
    public string? TraceId => TraceParent?.Split('-') is [_, var traceId, _, _] && traceId.Length == 32 ? traceId : null;

    public static RunStreamEntry From(string id, IEnumerable<KeyValuePair<string, string>> fields)
    {
        var map = fields.ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal);
        string? Get(string name) => map.TryGetValue(name, out var value) ? value : null;
        var type = Get("type") ?? (Get("done") == "true" ? "done" : Get("error") is not null ? "error" : "text");
        return new RunStreamEntry(
            id,
            type,
            Get("text") ?? string.Empty,
            long.TryParse(Get("sequence"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var sequence) ? sequence : null,
            int.TryParse(Get("attempt"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var attempt) ? attempt : null,
            long.TryParse(Get("timestamp"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var timestamp) ? timestamp : null,
            Get("error"),
            Get("data"),
            Get("traceparent"));
    }
}

/// <summary>
/// The dashboard's read-only view of Redis: the conversation index and run streams. It connects lazily (Redis starts
/// after the dashboard) to the AppHost's <c>redis</c> resource and owns that connection.
/// </summary>
internal sealed class DashboardRedis : IAsyncDisposable
{
    private readonly DistributedApplication _app;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private ConnectionMultiplexer? _multiplexer;

    public DashboardRedis(DistributedApplication app)
    {
        _app = app;
        ServiceId = app.Configuration["Dashboard:ServiceId"] ?? "agent-streaming";
    }

    /// <summary>The Orleans service id whose conversation index is listed.</summary>
    public string ServiceId { get; }

    /// <summary>Whether the topology has a Redis resource at all.</summary>
    public bool IsConfigured => ConnectionString is not null;

    private string? ConnectionString => _app.GetConnectionString(_app.Configuration["Dashboard:Redis"] ?? "redis");

    /// <summary>The most recently active conversations (<c>ZRANGE … REV WITHSCORES</c>).</summary>
    public async Task<IReadOnlyList<IndexedConversation>> ConversationsAsync(int take)
    {
        var db = (await ConnectAsync().ConfigureAwait(false)).GetDatabase();
        var entries = await db.SortedSetRangeByRankWithScoresAsync($"durable-agents:{ServiceId}:conversations", 0, Math.Max(0, take - 1), Order.Descending).ConfigureAwait(false);
        var result = new List<IndexedConversation>(entries.Length);
        foreach (var entry in entries)
        {
            var member = entry.Element.ToString();
            var slash = member.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0)
            {
                result.Add(new IndexedConversation(member[..slash], member[(slash + 1)..], DateTimeOffset.FromUnixTimeMilliseconds((long)entry.Score)));
            }
        }

        return result;
    }

    /// <summary>Entries of a run stream after an entry id (<c>XRANGE key (after + COUNT n</c>).</summary>
    public async Task<IReadOnlyList<RunStreamEntry>> RangeAsync(string runId, string? after, int count)
    {
        var db = (await ConnectAsync().ConfigureAwait(false)).GetDatabase();
        var entries = await db.StreamRangeAsync(StreamKey(runId), after is null ? "-" : "(" + after, "+", count).ConfigureAwait(false);
        return entries.Select(ToEntry).ToList();
    }

    /// <summary>Whether a run stream exists (<c>EXISTS</c>).</summary>
    public async Task<bool> ExistsAsync(string runId)
        => await (await ConnectAsync().ConfigureAwait(false)).GetDatabase().KeyExistsAsync(StreamKey(runId)).ConfigureAwait(false);

    /// <summary>The trace id on a run stream's first entry, if the run carried trace context.</summary>
    public async Task<string?> TraceIdAsync(string runId)
    {
        var first = await RangeAsync(runId, null, 1).ConfigureAwait(false);
        return first.Count > 0 ? first[0].TraceId : null;
    }

    /// <summary>
    /// Opens a connection of its own for blocking reads (<c>XREAD BLOCK</c>): a pending BLOCK stalls every other command on
    /// its connection, so a live view never shares the dashboard's connection.
    /// </summary>
    public async Task<ConnectionMultiplexer> ConnectBlockingAsync()
        => await ConnectionMultiplexer.ConnectAsync(Options(asyncTimeout: 15_000)).ConfigureAwait(false);

    /// <summary>Waits up to <paramref name="block"/> for entries after <paramref name="after"/> (<c>XREAD COUNT n BLOCK ms STREAMS key id</c>).</summary>
    public static async Task<IReadOnlyList<RunStreamEntry>> ReadBlockingAsync(ConnectionMultiplexer blocking, string runId, string after, TimeSpan block, int count = 500)
    {
        var reply = await blocking.GetDatabase().ExecuteAsync("XREAD", "COUNT", count, "BLOCK", (long)block.TotalMilliseconds, "STREAMS", StreamKey(runId), after).ConfigureAwait(false);
        if (reply.IsNull)
        {
            return [];
        }

        // RESP3 answers a map (key → entries), RESP2 an array of [key, entries].
        var items = (RedisResult[])reply!;
        var entries = reply.Resp3Type == ResultType.Map ? (RedisResult[])items[1]! : (RedisResult[])((RedisResult[])items[0]!)[1]!;
        var result = new List<RunStreamEntry>(entries.Length);
        foreach (var raw in entries)
        {
            var pair = (RedisResult[])raw!;
            var fields = (RedisResult[])pair[1]!;
            var list = new List<KeyValuePair<string, string>>(fields.Length / 2);
            for (var i = 0; i + 1 < fields.Length; i += 2)
            {
                list.Add(new(fields[i].ToString(), fields[i + 1].ToString()));
            }

            result.Add(RunStreamEntry.From(pair[0].ToString(), list));
        }

        return result;
    }

    public async ValueTask DisposeAsync()
    {
        if (_multiplexer is not null)
        {
            await _multiplexer.DisposeAsync().ConfigureAwait(false);
        }

        _connectGate.Dispose();
    }

    private static RedisKey StreamKey(string runId) => "agent-stream:" + runId;

    private static RunStreamEntry ToEntry(StreamEntry entry)
        => RunStreamEntry.From(entry.Id.ToString(), entry.Values.Select(v => new KeyValuePair<string, string>(v.Name.ToString(), v.Value.ToString())));

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        if (_multiplexer is { } existing)
        {
            return existing;
        }

        await _connectGate.WaitAsync().ConfigureAwait(false);
        try
        {
            return _multiplexer ??= await ConnectionMultiplexer.ConnectAsync(Options(asyncTimeout: 5_000)).ConfigureAwait(false);
        }
        finally
        {
            _connectGate.Release();
        }
    }

    private ConfigurationOptions Options(int asyncTimeout)
    {
        var options = ConfigurationOptions.Parse(ConnectionString ?? throw new InvalidOperationException("The topology has no Redis resource."));
        options.AbortOnConnectFail = false;
        options.AsyncTimeout = asyncTimeout;
        options.ClientName = "apphost-dashboard";
        return options;
    }
}

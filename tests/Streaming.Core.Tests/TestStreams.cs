using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Streaming.Tests;

internal static class TestStreams
{
    public static string NewRunId() => RunIds.New();

    public static async Task<List<StreamChunk>> ReadAllAsync(this IAgentStreamReader reader, string runId, string? cursor = null, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var chunks = new List<StreamChunk>();
        await foreach (var chunk in reader.ReadStreamAsync(runId, cursor, cts.Token))
        {
            chunks.Add(chunk);
        }

        return chunks;
    }

    public static async Task<List<StreamChunk>> ReadUntilAsync(this IAgentStreamReader reader, string runId, int count, string? cursor = null)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var chunks = new List<StreamChunk>();
        await foreach (var chunk in reader.ReadStreamAsync(runId, cursor, cts.Token))
        {
            chunks.Add(chunk);
            if (chunks.Count == count)
            {
                break;
            }
        }

        return chunks;
    }

    public static async Task WriteAsync(this RedisStreamResponseHandler handler, string runId, IEnumerable<string> texts, AgentStreamEntry? terminal = null, int attempt = 1)
    {
        var writer = handler.CreateWriter(runId, attempt);
        foreach (var text in texts)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText(text));
        }

        await writer.CompleteAsync(terminal ?? AgentStreamEntry.ForDone());
    }

    /// <summary>Writes text entries of a run that goes on (no terminal entry) and waits until Redis has them.</summary>
    /// <returns>The writer, to write more.</returns>
    public static async Task<RedisAgentStreamWriter> WriteLiveAsync(this RedisStreamResponseHandler handler, string runId, params string[] texts)
    {
        var writer = handler.CreateWriter(runId);
        foreach (var text in texts)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText(text));
        }

        await writer.FlushAsync();
        return writer;
    }
}

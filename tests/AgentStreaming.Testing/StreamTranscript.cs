using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Testing;

/// <summary>What a reader of a run's stream shows.</summary>
public static class StreamTranscript
{
    /// <summary>The text of the latest attempt: text entries concatenated, a <c>reset</c> dropping what came before.</summary>
    /// <param name="chunks">The entries, in order, as Streaming.Core's reader delivers them.</param>
    /// <returns>The visible text.</returns>
    public static string Visible(IEnumerable<StreamChunk> chunks)
        => Visible(chunks, c => (c.Kind == StreamEntryKind.Reset, c.Kind == StreamEntryKind.Text ? c.Text : null));

    /// <summary>The text of the latest attempt, from the entries as the durable agent client delivers them.</summary>
    /// <param name="chunks">The entries, in order.</param>
    /// <returns>The visible text.</returns>
    public static string Visible(IEnumerable<DurableRunChunk> chunks)
        => Visible(chunks, c => (c.Kind == DurableRunChunkKind.Reset, c.Kind == DurableRunChunkKind.Text ? c.Text : null));

    private static string Visible<T>(IEnumerable<T> chunks, Func<T, (bool Reset, string? Text)> read)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var text = new System.Text.StringBuilder();
        foreach (var chunk in chunks)
        {
            var (reset, part) = read(chunk);
            if (reset)
            {
                text.Clear();
            }
            else if (part is not null)
            {
                text.Append(part);
            }
        }

        return text.ToString();
    }
}

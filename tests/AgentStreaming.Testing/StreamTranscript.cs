using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Testing;

/// <summary>What a reader of a run's stream shows.</summary>
public static class StreamTranscript
{
    /// <summary>The text of the latest attempt: text entries concatenated, a <c>reset</c> dropping what came before.</summary>
    /// <param name="chunks">The entries, in order.</param>
    /// <returns>The visible text.</returns>
    public static string Visible(IEnumerable<StreamChunk> chunks)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var text = new System.Text.StringBuilder();
        foreach (var chunk in chunks)
        {
            if (chunk.Kind == StreamEntryKind.Reset)
            {
                text.Clear();
            }
            else if (chunk.Kind == StreamEntryKind.Text)
            {
                text.Append(chunk.Text);
            }
        }

        return text.ToString();
    }
}

using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Streaming.Tests;

/// <summary>What a reader shows: text of the latest attempt (a reset drops what came before).</summary>
internal static class StreamText
{
    public static string Visible(IEnumerable<StreamChunk> chunks)
    {
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

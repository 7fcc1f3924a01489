using System.Text.Json;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Client.Rendering;

/// <summary>
/// Renders runs for scripts: one JSON object per stream entry on stdout (one line each), everything else as
/// plain lines on stderr. No colors, prompts or spinner.
/// </summary>
internal sealed class JsonRenderer(ConsoleTarget target) : IRunRenderer
{
    private readonly Lock _gate = new();

    /// <inheritdoc />
    public bool IsTerminal => false;

    /// <inheritdoc />
    public void Started(RunProgress run)
    {
        if (run.ConversationId is not null)
        {
            // For scripts that want to continue the conversation (--conversation) or cancel the run later.
            Err($"run {run.RunId} · conversation {run.ConversationId}");
        }
    }

    /// <inheritdoc />
    public void Chunk(RunProgress run, DurableRunChunk chunk)
    {
        var line = Format(run.RunId, chunk);
        lock (_gate)
        {
            target.Out.WriteLine(line);
        }
    }

    /// <inheritdoc />
    public void Finished(RunProgress run, DurableRunChunk terminal)
    {
    }

    /// <inheritdoc />
    public void Detached(RunProgress run, string howToResume)
        => Err($"Detached from run {run.RunId} at cursor {run.Cursor ?? "(start)"}; the run goes on. {howToResume}");

    /// <inheritdoc />
    public void Resumed(RunProgress run) => Err($"Resuming run {run.RunId} after cursor {run.Cursor ?? "(start)"}");

    /// <inheritdoc />
    public void Notice(string text) => Err(text);

    /// <inheritdoc />
    public void Error(string text) => Err("error: " + text);

    /// <inheritdoc />
    public void Prompt(string text)
    {
    }

    /// <inheritdoc />
    public IAsyncDisposable Spinner(string label) => new Nothing();

    /// <inheritdoc />
    public void Echo(string text)
    {
    }

    /// <summary>One entry as a JSON line: <c>{kind, text, cursor, sequence, attempt, runId[, error][, data]}</c>.</summary>
    /// <param name="runId">The run.</param>
    /// <param name="chunk">The entry.</param>
    /// <returns>The JSON text.</returns>
    public static string Format(string runId, DurableRunChunk chunk)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("kind", chunk.TypeName);
            json.WriteString("text", chunk.Text);
            json.WriteString("cursor", chunk.Cursor);
            json.WriteNumber("sequence", chunk.Sequence);
            json.WriteNumber("attempt", chunk.Attempt);
            json.WriteString("runId", runId);
            if (chunk.Error is not null)
            {
                json.WriteString("error", chunk.Error);
            }

            if (chunk.Data is { Length: > 0 } data)
            {
                json.WritePropertyName("data");
                try
                {
                    using var parsed = JsonDocument.Parse(data);
                    parsed.RootElement.WriteTo(json);
                }
                catch (JsonException)
                {
                    json.WriteStringValue(data);
                }
            }

            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private void Err(string line)
    {
        lock (_gate)
        {
            target.Err.WriteLine(line);
        }
    }

    private sealed class Nothing : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

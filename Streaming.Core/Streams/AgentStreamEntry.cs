namespace AgentStreaming.Streaming.Streams;

/// <summary>An entry a producer appends to a run's stream (the writer adds sequence, timestamp and attempt).</summary>
/// <param name="Kind">What the entry is.</param>
/// <param name="Text">Answer text for <see cref="StreamEntryKind.Text"/>; empty otherwise.</param>
/// <param name="Error">The message of an <c>error</c> or <c>cancelled</c> entry.</param>
/// <param name="Data">Compact JSON for tool call, tool result and usage entries.</param>
public readonly record struct AgentStreamEntry(StreamEntryKind Kind, string Text = "", string? Error = null, string? Data = null)
{
    /// <summary>A text chunk.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The entry.</returns>
    public static AgentStreamEntry ForText(string text) => new(StreamEntryKind.Text, text ?? string.Empty);

    /// <summary>The success terminal.</summary>
    /// <param name="data">Optional JSON (e.g. token usage of the whole run).</param>
    /// <returns>The entry.</returns>
    public static AgentStreamEntry ForDone(string? data = null) => new(StreamEntryKind.Done, Data: data);

    /// <summary>The failure terminal.</summary>
    /// <param name="message">A human-readable message.</param>
    /// <returns>The entry.</returns>
    public static AgentStreamEntry ForError(string message) => new(StreamEntryKind.Error, Error: message);

    /// <summary>The cancellation terminal.</summary>
    /// <param name="message">A human-readable message (old readers stop on any <c>error</c> field).</param>
    /// <returns>The entry.</returns>
    public static AgentStreamEntry ForCancelled(string message = "The run was cancelled.") => new(StreamEntryKind.Cancelled, Error: message);

    /// <summary>Whether this entry ends the stream.</summary>
    public bool IsTerminal => Kind.IsTerminal();
}

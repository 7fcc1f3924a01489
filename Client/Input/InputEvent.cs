namespace AgentStreaming.Client.Input;

/// <summary>What the user did.</summary>
/// <param name="Kind">Line, interrupt or end of input.</param>
/// <param name="Text">The line's text (without the line break).</param>
internal readonly record struct InputEvent(InputKind Kind, string Text = "")
{
    /// <summary>Ctrl+C (SIGINT).</summary>
    public static InputEvent Interrupt => new(InputKind.Interrupt);

    /// <summary>End of input (Ctrl+D, or the pipe closed).</summary>
    public static InputEvent End => new(InputKind.End);

    /// <summary>A line was entered.</summary>
    /// <param name="text">Its text.</param>
    /// <returns>The event.</returns>
    public static InputEvent Line(string text) => new(InputKind.Line, text);
}

/// <summary>Kinds of <see cref="InputEvent"/>.</summary>
internal enum InputKind
{
    /// <summary>A line (Enter).</summary>
    Line,

    /// <summary>Ctrl+C.</summary>
    Interrupt,

    /// <summary>No more input.</summary>
    End,
}

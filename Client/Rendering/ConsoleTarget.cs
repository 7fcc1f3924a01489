namespace AgentStreaming.Client.Rendering;

/// <summary>Where output goes and what it may contain, decided once at start.</summary>
/// <param name="Out">Answers (stdout).</param>
/// <param name="Err">Everything else when not on a terminal (stderr).</param>
/// <param name="IsTerminal">Both stdout and stderr are a terminal: prompts, spinner, in-place rewriting.</param>
/// <param name="UseColor">Colors are allowed (a terminal, and <c>NO_COLOR</c> not set).</param>
internal sealed record ConsoleTarget(TextWriter Out, TextWriter Err, bool IsTerminal, bool UseColor)
{
    /// <summary>The process's console.</summary>
    /// <returns>The target.</returns>
    public static ConsoleTarget FromConsole()
    {
        var terminal = !Console.IsOutputRedirected && !Console.IsErrorRedirected
            && !string.Equals(Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal);
        var color = terminal && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        return new ConsoleTarget(Console.Out, Console.Error, terminal, color);
    }

    /// <summary>The terminal's width in columns (80 when unknown).</summary>
    public static int Width => Dimension(static () => Console.WindowWidth, 80);

    /// <summary>The terminal's height in rows (24 when unknown).</summary>
    public static int Height => Dimension(static () => Console.WindowHeight, 24);

    private static int Dimension(Func<int> read, int unknown)
    {
        try
        {
            return read() is > 0 and var value ? value : unknown;
        }
        catch (IOException)
        {
            return unknown;
        }
    }
}

/// <summary>ANSI escape sequences the renderer uses.</summary>
internal static class Ansi
{
    public const string Reset = "\u001b[0m";
    public const string Dim = "\u001b[2m";
    public const string Bold = "\u001b[1m";
    public const string Red = "\u001b[31m";
    public const string Green = "\u001b[32m";
    public const string Yellow = "\u001b[33m";
    public const string Cyan = "\u001b[36m";

    /// <summary>Clears from the cursor to the end of the screen.</summary>
    public const string ClearToEnd = "\u001b[J";

    /// <summary>Clears the cursor's line.</summary>
    public const string ClearLine = "\r\u001b[2K";

    /// <summary>Moves the cursor up.</summary>
    /// <param name="rows">Rows.</param>
    /// <returns>The sequence.</returns>
    public static string Up(int rows) => rows > 0 ? $"\u001b[{rows}A" : string.Empty;
}

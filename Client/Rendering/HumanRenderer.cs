using System.Globalization;
using System.Text;
using System.Text.Json;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Client.Rendering;

/// <summary>
/// Renders runs for a person. On a terminal: colors, a spinner, and a <c>reset</c> erases the failed attempt's
/// partial text in place (or, when it scrolled away, says so under it). Redirected: the answer text alone on
/// stdout (a <c>reset</c> becomes a marker line there), everything else as plain lines on stderr.
/// </summary>
internal sealed class HumanRenderer(ConsoleTarget target) : IRunRenderer
{
    /// <summary>The marker line written to redirected stdout when an attempt restarts the answer.</summary>
    public const string ResetMarkerPrefix = "--- reset: attempt ";

    private readonly Lock _gate = new();
    private int _column;
    private int _rowsSinceAttemptStart;
    private bool _attemptErasable;

    /// <inheritdoc />
    public bool IsTerminal => target.IsTerminal;

    /// <inheritdoc />
    public void Started(RunProgress run)
    {
        var conversation = run.ConversationId is null ? string.Empty : $" · conversation {run.ConversationId}";
        Chrome($"run {run.RunId}{conversation}", Ansi.Dim);
        lock (_gate)
        {
            _rowsSinceAttemptStart = 0;
            _attemptErasable = true;
        }
    }

    /// <inheritdoc />
    public void Chunk(RunProgress run, DurableRunChunk chunk)
    {
        switch (chunk.Kind)
        {
            case DurableRunChunkKind.Text:
                Answer(chunk.Text);
                break;
            case DurableRunChunkKind.Reset:
                RenderReset(chunk.Attempt);
                break;
            case DurableRunChunkKind.ToolCall:
                Chrome("⚙ " + DescribeToolCall(chunk.Data), Ansi.Dim);
                break;
            case DurableRunChunkKind.ToolResult:
                Chrome("  ↳ " + DescribeToolResult(chunk.Data), Ansi.Dim);
                break;
            default:
                break;
        }
    }

    /// <inheritdoc />
    public void Finished(RunProgress run, DurableRunChunk terminal)
    {
        EndAnswerLine(evenWhenRedirected: true);
        var (icon, color) = terminal.Kind switch
        {
            DurableRunChunkKind.Done => ("✓", Ansi.Green),
            DurableRunChunkKind.Cancelled => ("⊘", Ansi.Yellow),
            _ => ("✗", Ansi.Red),
        };
        if (terminal.Kind != DurableRunChunkKind.Done)
        {
            Chrome($"{icon} {terminal.TypeName}: {terminal.Error ?? "(no message)"}", color);
        }

        var firstChunk = run.FirstChunkAfter is { } first ? $"first chunk {Seconds(first)} · " : string.Empty;
        Chrome($"{icon} {terminal.TypeName} · {firstChunk}{run.TextChunks} chunks · {Seconds(run.Elapsed)} · run {run.RunId}", target.UseColor ? Ansi.Dim : null);
    }

    /// <inheritdoc />
    public void Detached(RunProgress run, string howToResume)
    {
        EndAnswerLine();
        Chrome($"» Detached from run {run.RunId} at cursor {run.Cursor ?? "(start)"}; the run goes on.", Ansi.Yellow);
        Chrome("  " + howToResume, Ansi.Dim);
        lock (_gate)
        {
            _attemptErasable = false;
        }
    }

    /// <inheritdoc />
    public void Resumed(RunProgress run) => Chrome($"» Resuming run {run.RunId} after cursor {run.Cursor ?? "(start)"}", Ansi.Dim);

    /// <inheritdoc />
    public void Notice(string text)
    {
        EndAnswerLine();
        Chrome(text, Ansi.Cyan);
    }

    /// <inheritdoc />
    public void Error(string text)
    {
        EndAnswerLine();
        Chrome("error: " + text, Ansi.Red);
    }

    /// <inheritdoc />
    public void Prompt(string text)
    {
        if (!target.IsTerminal)
        {
            return;
        }

        EndAnswerLine();
        lock (_gate)
        {
            WriteTracked(target.UseColor ? Ansi.Bold + text + Ansi.Reset : text);
        }
    }

    /// <inheritdoc />
    public void Echo(string text)
    {
        lock (_gate)
        {
            if (text == "\b")
            {
                target.Out.Write("\b \b");
                _column = Math.Max(0, _column - 1);
            }
            else
            {
                WriteTracked(text);
            }
        }
    }

    /// <inheritdoc />
    public IAsyncDisposable Spinner(string label) => target.IsTerminal ? new TerminalSpinner(target, _gate, label) : NoSpinner.Instance;

    private void Answer(string text)
    {
        if (text.Length == 0)
        {
            return;
        }

        lock (_gate)
        {
            if (target.IsTerminal)
            {
                WriteTracked(text);
            }
            else
            {
                target.Out.Write(text);
                _column = text[^1] == '\n' ? 0 : _column + text.Length;
            }
        }
    }

    private void RenderReset(int attempt)
    {
        lock (_gate)
        {
            if (!target.IsTerminal)
            {
                if (_column != 0)
                {
                    target.Out.WriteLine();
                }

                target.Out.WriteLine($"{ResetMarkerPrefix}{attempt} restarts the answer; discard the partial text above from attempt {attempt - 1} ---");
                _column = 0;
                target.Err.WriteLine($"↻ attempt {attempt}: the previous attempt was lost (its Worker stopped?); the answer starts over.");
                return;
            }

            string notice;
            if (_attemptErasable && _rowsSinceAttemptStart < ConsoleTarget.Height - 1)
            {
                // Everything since the attempt started is still on screen: take it back.
                target.Out.Write("\r" + Ansi.Up(_rowsSinceAttemptStart) + Ansi.ClearToEnd);
                _column = 0;
                notice = $"↻ attempt {attempt}: the previous attempt was lost and its partial answer replaced; starting over.";
            }
            else
            {
                if (_column != 0)
                {
                    WriteTracked("\n");
                }

                notice = $"↻ attempt {attempt}: discard the partial answer above (attempt {attempt - 1}); the answer starts over here.";
            }

            WriteTracked(target.UseColor ? Ansi.Yellow + notice + Ansi.Reset + "\n" : notice + "\n");
            _rowsSinceAttemptStart = 0;
            _attemptErasable = true;
        }
    }

    /// <summary>Ends the answer's current line before other output. Redirected stdout gets a line break only when the answer is complete, so it stays an exact transcript across detach and resume.</summary>
    private void EndAnswerLine(bool evenWhenRedirected = false)
    {
        lock (_gate)
        {
            if (_column != 0)
            {
                if (target.IsTerminal)
                {
                    WriteTracked("\n");
                }
                else if (evenWhenRedirected)
                {
                    target.Out.WriteLine();
                    _column = 0;
                }
            }
        }
    }

    /// <summary>A line outside the answer: on the terminal in a color, else plain on stderr.</summary>
    private void Chrome(string line, string? color)
    {
        lock (_gate)
        {
            if (!target.IsTerminal)
            {
                target.Err.WriteLine(line);
                return;
            }

            if (_column != 0)
            {
                WriteTracked("\n");
            }

            WriteTracked(target.UseColor && color is not null ? color + line + Ansi.Reset + "\n" : line + "\n");
        }
    }

    /// <summary>Writes to the terminal, following the cursor's row and column so an attempt can be erased.</summary>
    /// <param name="text">What to write (may hold escape sequences).</param>
    private void WriteTracked(string text)
    {
        target.Out.Write(text);
        var width = ConsoleTarget.Width;
        var escape = false;
        foreach (var rune in text.EnumerateRunes())
        {
            if (escape)
            {
                escape = !Rune.IsLetter(rune);
                continue;
            }

            switch (rune.Value)
            {
                case 0x1b:
                    escape = true;
                    break;
                case '\n':
                    _rowsSinceAttemptStart++;
                    _column = 0;
                    break;
                case '\r':
                    _column = 0;
                    break;
                default:
                    var cells = CellWidth(rune);
                    if (cells == 0)
                    {
                        break;
                    }

                    if (_column + cells > width)
                    {
                        // The terminal wraps when a character does not fit on the row.
                        _rowsSinceAttemptStart++;
                        _column = 0;
                    }

                    _column += cells;
                    break;
            }
        }
    }

    /// <summary>Terminal cells a character takes: 0 for controls and joiners, 2 for emoji and East Asian wide characters.</summary>
    private static int CellWidth(Rune rune)
    {
        var v = rune.Value;
        if (Rune.IsControl(rune) || v is 0x200D or (>= 0xFE00 and <= 0xFE0F) || Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.EnclosingMark)
        {
            return 0;
        }

        return v is (>= 0x1100 and <= 0x115F) or (>= 0x2E80 and <= 0xA4CF) or (>= 0xAC00 and <= 0xD7A3) or (>= 0xF900 and <= 0xFAFF)
            or (>= 0xFE30 and <= 0xFE4F) or (>= 0xFF00 and <= 0xFF60) or (>= 0xFFE0 and <= 0xFFE6) or (>= 0x1F300 and <= 0x1FAFF) or (>= 0x20000 and <= 0x3FFFD)
            ? 2
            : 1;
    }

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";

    private static string DescribeToolCall(string? data)
    {
        try
        {
            using var json = JsonDocument.Parse(data ?? "{}");
            var name = json.RootElement.TryGetProperty("name", out var n) ? n.GetString() : "tool";
            var arguments = json.RootElement.TryGetProperty("arguments", out var a) ? a.GetRawText() : "{}";
            return Clip($"{name} {arguments}");
        }
        catch (JsonException)
        {
            return Clip(data ?? "tool call");
        }
    }

    private static string DescribeToolResult(string? data)
    {
        try
        {
            using var json = JsonDocument.Parse(data ?? "{}");
            if (json.RootElement.TryGetProperty("error", out var error))
            {
                return Clip("failed: " + error.GetString());
            }

            return Clip(json.RootElement.TryGetProperty("result", out var r) ? r.ToString() : json.RootElement.GetRawText());
        }
        catch (JsonException)
        {
            return Clip(data ?? "tool result");
        }
    }

    private static string Clip(string text)
    {
        var oneLine = text.ReplaceLineEndings(" ");
        var max = Math.Max(20, ConsoleTarget.Width - 6);
        return oneLine.Length > max ? oneLine[..(max - 1)] + "…" : oneLine;
    }

    private sealed class NoSpinner : IAsyncDisposable
    {
        public static readonly NoSpinner Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class TerminalSpinner : IAsyncDisposable
    {
        private static readonly string[] Frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _spinning;

        public TerminalSpinner(ConsoleTarget target, Lock gate, string label)
        {
            _spinning = SpinAsync(target, gate, label, _stop.Token);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _spinning;
            _stop.Dispose();
        }

        private static async Task SpinAsync(ConsoleTarget target, Lock gate, string label, CancellationToken stop)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(90));
            var frame = 0;
            try
            {
                do
                {
                    lock (gate)
                    {
                        var text = $"{Frames[frame++ % Frames.Length]} {label}";
                        target.Out.Write(Ansi.ClearLine + (target.UseColor ? Ansi.Cyan + text + Ansi.Reset : text));
                    }
                }
                while (await timer.WaitForNextTickAsync(stop));
            }
            catch (OperationCanceledException)
            {
            }

            lock (gate)
            {
                target.Out.Write(Ansi.ClearLine);
            }
        }
    }
}

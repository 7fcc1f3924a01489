using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Client.Rendering;

/// <summary>Shows runs and the client's messages: for people (<see cref="HumanRenderer"/>) or scripts (<see cref="JsonRenderer"/>).</summary>
internal interface IRunRenderer
{
    /// <summary>Whether the output is an interactive terminal (prompts, spinner, colors).</summary>
    bool IsTerminal { get; }

    /// <summary>A run was started (or is about to be read).</summary>
    /// <param name="run">The run.</param>
    void Started(RunProgress run);

    /// <summary>Shows one stream entry; terminal entries are followed by <see cref="Finished"/>.</summary>
    /// <param name="run">The run, already updated with the entry.</param>
    /// <param name="chunk">The entry.</param>
    void Chunk(RunProgress run, DurableRunChunk chunk);

    /// <summary>The run ended.</summary>
    /// <param name="run">The run.</param>
    /// <param name="terminal">Its terminal entry.</param>
    void Finished(RunProgress run, DurableRunChunk terminal);

    /// <summary>The live view was detached; the run goes on.</summary>
    /// <param name="run">The run, with its cursor.</param>
    /// <param name="howToResume">What to do to resume.</param>
    void Detached(RunProgress run, string howToResume);

    /// <summary>The live view resumes from the run's cursor.</summary>
    /// <param name="run">The run.</param>
    void Resumed(RunProgress run);

    /// <summary>An informational line.</summary>
    /// <param name="text">The text.</param>
    void Notice(string text);

    /// <summary>An error line, saying what to do.</summary>
    /// <param name="text">The text.</param>
    void Error(string text);

    /// <summary>Writes the chat prompt (terminal only).</summary>
    /// <param name="text">The prompt.</param>
    void Prompt(string text);

    /// <summary>Shows a spinner until disposed (terminal only; otherwise does nothing).</summary>
    /// <param name="label">What is awaited.</param>
    /// <returns>Stops and erases the spinner.</returns>
    IAsyncDisposable Spinner(string label);

    /// <summary>Echoes typed input (terminal chat).</summary>
    /// <param name="text">The characters.</param>
    void Echo(string text);
}

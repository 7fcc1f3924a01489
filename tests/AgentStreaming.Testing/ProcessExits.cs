using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace AgentStreaming.Testing;

/// <summary>
/// Bounded waits for the child processes a test starts. <see cref="Process.WaitForExit()"/> and
/// <see cref="Process.WaitForExitAsync(CancellationToken)"/> also wait until the process's redirected output pipes are
/// closed, and a process it started (a <c>dotnet</c> build server or MSBuild node, DCP, a Worker under <c>dotnet run</c>,
/// npm's children) keeps them open after it has exited: without a deadline the test host would hang instead of failing.
/// These wait for the exit itself, give the output a few seconds to arrive, and always end.
/// </summary>
public static class ProcessExits
{
    /// <summary>How long the output of an exited process may take to reach its handlers.</summary>
    public static readonly TimeSpan OutputDrain = TimeSpan.FromSeconds(5);

    /// <summary>How long a killed process may take to be gone.</summary>
    public static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(15);

    /// <summary>A task that completes when <paramref name="process"/> has exited (not waiting for its output pipes to close).</summary>
    /// <param name="process">A started process.</param>
    /// <returns>The task.</returns>
    public static Task WhenExited(this Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => exited.TrySetResult();
        if (process.HasExited)
        {
            exited.TrySetResult();
        }

        return exited.Task;
    }

    /// <summary>
    /// Waits at most <paramref name="timeout"/> for <paramref name="process"/> to exit, then at most
    /// <see cref="OutputDrain"/> for its redirected output to reach the handlers (a process it left behind may hold the
    /// pipes open; its output then ends there).
    /// </summary>
    /// <param name="process">A started process.</param>
    /// <param name="timeout">How long it may take to exit.</param>
    /// <returns>Whether it exited in time.</returns>
    public static async Task<bool> ExitedWithinAsync(this Process process, TimeSpan timeout)
    {
        try
        {
            await process.WhenExited().WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return false;
        }

        using var drain = new CancellationTokenSource(OutputDrain);
        try
        {
            await process.WaitForExitAsync(drain.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (drain.IsCancellationRequested)
        {
            // Exited, but a process it started still holds its output open.
        }

        return true;
    }

    /// <summary>Kills <paramref name="process"/> and every process under it (SIGKILL) and waits until it is gone.</summary>
    /// <param name="process">A started process (it may have exited already).</param>
    /// <param name="name">What it is, for the message.</param>
    /// <returns>A task that completes when it has exited.</returns>
    /// <exception cref="TimeoutException">It was still there <see cref="KillTimeout"/> after the kill.</exception>
    public static async Task KillTreeAsync(this Process process, string name)
    {
        ArgumentNullException.ThrowIfNull(process);
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }

        if (!await process.ExitedWithinAsync(KillTimeout).ConfigureAwait(false))
        {
            throw new TimeoutException($"{name} (pid {process.Id}) was killed with SIGKILL but had not exited {KillTimeout.TotalSeconds:0} s later.");
        }
    }

    /// <summary>Kills the process <paramref name="pid"/> (SIGKILL) if it is still there, e.g. one a tool left behind.</summary>
    /// <param name="pid">The process id.</param>
    public static void Kill(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            // Gone already.
        }
    }

    /// <summary>
    /// Runs a program to its end with its output captured and its standard input closed (a prompt reads end-of-file
    /// instead of waiting); killed with everything it started when it takes longer than <paramref name="timeout"/>.
    /// </summary>
    /// <param name="program">The program (a name on the PATH or a path).</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="timeout">How long it may run.</param>
    /// <param name="workingDirectory">Its working directory (default: the current one).</param>
    /// <param name="environment">Extra environment variables.</param>
    /// <returns>Its exit code and output.</returns>
    /// <exception cref="InvalidOperationException">The program could not be started (not installed).</exception>
    /// <exception cref="TimeoutException">It did not exit in time (the message has the command and its output so far).</exception>
    public static async Task<ProcessResult> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var command = string.Join(' ', [program, .. start.ArgumentList]);
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"'{program}' could not be started (is it installed and on the PATH?): {ex.Message}", ex);
        }

        process.StandardInput.Close();
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var pumps = Task.WhenAll(PumpAsync(process.StandardOutput, stdout), PumpAsync(process.StandardError, stderr));
        var exited = await process.ExitedWithinAsync(timeout).ConfigureAwait(false);
        if (!exited)
        {
            await process.KillTreeAsync(command).ConfigureAwait(false);
        }

        try
        {
            await pumps.WaitAsync(OutputDrain).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A process it left behind holds its output open: what was read is all there is.
        }

        return exited
            ? new ProcessResult(process.ExitCode, Read(stdout), Read(stderr))
            : throw new TimeoutException($"'{command}' did not finish within {timeout.TotalSeconds:0} s and was killed.\n{Read(stderr)}\n{Read(stdout)}");

        // The output exactly as written (no line splitting: a missing final newline stays missing).
        static async Task PumpAsync(StreamReader reader, StringBuilder into)
        {
            await Task.Yield();
            var buffer = new char[4096];
            int read;
            while ((read = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                lock (into)
                {
                    into.Append(buffer, 0, read);
                }
            }
        }

        static string Read(StringBuilder from)
        {
            lock (from)
            {
                return from.ToString();
            }
        }
    }
}

/// <summary>How a program run with <see cref="ProcessExits.RunAsync"/> ended.</summary>
/// <param name="ExitCode">Its exit code.</param>
/// <param name="Stdout">Its standard output.</param>
/// <param name="Stderr">Its standard error.</param>
public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr);

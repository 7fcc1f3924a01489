using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using AgentStreaming.Testing;

namespace AgentStreaming.Client.Tests;

/// <summary>
/// The real Client process with stdout captured exactly (character by character, so partial lines count) and stderr
/// line by line; optionally inside a pseudo-terminal (<c>script</c>), where both go to the terminal's output.
/// </summary>
internal sealed partial class ClientProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly List<string> _stderr = [];
    private readonly Lock _gate = new();
    private readonly List<(Func<bool> Condition, TaskCompletionSource Done)> _waiters = [];
    private readonly Task _pump;

    private ClientProcess(Process process)
    {
        _process = process;
        _pump = PumpStdoutAsync();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_gate)
                {
                    _stderr.Add(e.Data);
                }

                Signal();
            }
        };
        process.BeginErrorReadLine();
    }

    public string Stdout
    {
        get
        {
            lock (_gate)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_gate)
            {
                return string.Join('\n', _stderr);
            }
        }
    }

    /// <summary>The terminal's output without escape sequences and carriage returns (pty mode).</summary>
    public string ScreenText => AnsiEscape().Replace(Stdout, string.Empty).Replace("\r", string.Empty, StringComparison.Ordinal);

    public static ClientProcess Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment)
    {
        var info = Redirected("dotnet", [ClientDll, .. arguments]);
        info.StandardErrorEncoding = Encoding.UTF8;
        return Start(info, environment);
    }

    /// <summary>Starts the Client inside a pseudo-terminal of 120×40 (util-linux <c>script</c>); its exit code is the Client's.</summary>
    public static ClientProcess StartInTerminal(IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment)
    {
        var command = "stty cols 120 rows 40; exec dotnet " + string.Join(' ', new[] { ClientDll }.Concat(arguments).Select(Quote));
        var info = Redirected("script", ["-qfec", command, "/dev/null"]);
        info.Environment["TERM"] = "xterm-256color";
        return Start(info, environment);
    }

    /// <summary>A start of <paramref name="fileName"/> with its standard streams redirected (stdout read as UTF-8).</summary>
    private static ProcessStartInfo Redirected(string fileName, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return info;
    }

    public static async Task<ClientProcess> RunToEndAsync(IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment, TimeSpan timeout)
    {
        var client = Start(arguments, environment);
        client.CloseInput();
        await client.WaitForExitAsync(timeout);
        return client;
    }

    public async Task WriteAsync(string text)
    {
        await _process.StandardInput.WriteAsync(text);
        await _process.StandardInput.FlushAsync();
    }

    public Task WriteLineAsync(string line) => WriteAsync(line + "\n");

    public void CloseInput() => _process.StandardInput.Close();

    public Task WaitForStdoutAsync(Func<string, bool> condition, TimeSpan timeout, string what)
        => WaitAsync(() => condition(_stdout.ToString()), timeout, what);

    public Task WaitForStderrAsync(string pattern, TimeSpan timeout, int count = 1)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        return WaitAsync(() => _stderr.Count(regex.IsMatch) >= count, timeout, $"{count}× /{pattern}/ on stderr");
    }

    public Task WaitForScreenAsync(string pattern, TimeSpan timeout, int count = 1)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        return WaitAsync(() => regex.Count(AnsiEscape().Replace(_stdout.ToString(), string.Empty)) >= count, timeout, $"{count}× /{pattern}/ on the terminal");
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        if (!await _process.ExitedWithinAsync(timeout))
        {
            throw new TimeoutException($"The client did not exit within {timeout}.\n{Describe()}");
        }

        await DrainStdoutAsync();
        return _process.ExitCode;
    }

    public int ExitCode => _process.ExitCode;

    public string Describe() => $"--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _process.KillTreeAsync("The client");
            await DrainStdoutAsync();
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static string ClientDll => RepoPaths.ProjectOutput("Client", "AgentStreaming.Client.dll");

    private static ClientProcess Start(ProcessStartInfo info, IReadOnlyDictionary<string, string?> environment)
    {
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.Start();
        return new ClientProcess(process);
    }

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private async Task WaitAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (condition())
            {
                return;
            }

            _waiters.Add((condition, done));
        }

        var exited = _process.WhenExited();
        var winner = await Task.WhenAny(done.Task, exited, Task.Delay(timeout));
        if (winner == done.Task)
        {
            return;
        }

        if (winner == exited)
        {
            await DrainStdoutAsync();
        }

        lock (_gate)
        {
            if (condition())
            {
                return;
            }
        }

        var why = winner == exited ? $"exited with code {_process.ExitCode}" : $"did not show it within {timeout}";
        throw new TimeoutException($"The client {why} (waiting for {what}).\n{Describe()}");
    }

    /// <summary>Lets the stdout pump read what an exited client wrote (a few seconds at most: a process it left behind may hold the pipe).</summary>
    private async Task DrainStdoutAsync()
    {
        try
        {
            await _pump.WaitAsync(ProcessExits.OutputDrain);
        }
        catch (Exception ex) when (ex is TimeoutException or IOException)
        {
            // Read as far as it got.
        }
    }

    private async Task PumpStdoutAsync()
    {
        await Task.Yield();
        var buffer = new char[4096];
        var reader = _process.StandardOutput;
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (_gate)
            {
                _stdout.Append(buffer, 0, read);
            }

            Signal();
        }
    }

    private void Signal()
    {
        List<TaskCompletionSource> ready = [];
        lock (_gate)
        {
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Condition())
                {
                    ready.Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var done in ready)
        {
            done.TrySetResult();
        }
    }

    [GeneratedRegex("\u001b\\[[0-9;?]*[A-Za-z]|\u001b[()][A-Za-z0-9]|\u001b[=>78]")]
    private static partial Regex AnsiEscape();
}

using System.Diagnostics;
using System.Text.RegularExpressions;

namespace AgentStreaming.Testing;

/// <summary>A real child process of the system under test (a Worker, the Client, the AppHost), with its output captured.</summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly object _gate = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<string> Found)> _waiters = [];

    private ServiceProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    /// <summary>A name for messages.</summary>
    public string Name { get; }

    /// <summary>The process id.</summary>
    public int Id => _process.Id;

    /// <summary>Whether it has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code (after exit).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Everything it wrote so far (stdout and stderr, line by line).</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    /// <summary>Starts <c>dotnet {assembly} {args}</c> with extra environment variables.</summary>
    /// <param name="name">A name for messages.</param>
    /// <param name="assemblyPath">The app's .dll.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="environment">Extra environment variables.</param>
    /// <param name="redirectInput">Whether to give it a writable standard input.</param>
    /// <returns>The running process.</returns>
    public static ServiceProcess StartDotnet(string name, string assemblyPath, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment = null, bool redirectInput = false)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(assemblyPath)!,
        };
        info.ArgumentList.Add(assemblyPath);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var service = new ServiceProcess(process, name);
        process.OutputDataReceived += (_, e) => service.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => service.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>Writes a line to its standard input.</summary>
    /// <param name="line">The line.</param>
    /// <returns>A task that completes when written.</returns>
    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Closes its standard input.</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Waits until a line of its output matches <paramref name="pattern"/>.</summary>
    /// <param name="pattern">A regular expression.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <returns>The matching line.</returns>
    /// <exception cref="TimeoutException">No such line in time (the message includes the output).</exception>
    public async Task<string> WaitForOutputAsync(string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_lines.FirstOrDefault(regex.IsMatch) is { } line)
            {
                return line;
            }

            _waiters.Add((regex, found));
        }

        var exited = _process.WhenExited();
        var winner = await Task.WhenAny(found.Task, exited, Task.Delay(timeout)).ConfigureAwait(false);
        if (winner == found.Task)
        {
            return await found.Task.ConfigureAwait(false);
        }

        if (winner == exited)
        {
            await _process.ExitedWithinAsync(TimeSpan.Zero).ConfigureAwait(false); // its last lines
        }

        lock (_gate)
        {
            if (_lines.FirstOrDefault(regex.IsMatch) is { } line)
            {
                return line;
            }
        }

        var why = winner == exited ? $"exited with code {_process.ExitCode}" : $"did not print it within {timeout}";
        throw new TimeoutException($"{Name} {why} (waiting for /{pattern}/). Output:\n{Output}");
    }

    /// <summary>Kills it and what it started with SIGKILL (no chance to clean up) and waits until it is gone.</summary>
    /// <returns>A task that completes when it has exited.</returns>
    /// <exception cref="TimeoutException">It was still there 15 s after the kill.</exception>
    public Task KillAsync() => _process.KillTreeAsync(Name);

    /// <summary>Sends SIGTERM (a graceful stop).</summary>
    public void Terminate()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill?.WaitForExit(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Waits for it to exit.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <returns>The exit code.</returns>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        if (!await _process.ExitedWithinAsync(timeout).ConfigureAwait(false))
        {
            throw new TimeoutException($"{Name} did not exit within {timeout}. Output:\n{Output}");
        }

        return _process.ExitCode;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        List<TaskCompletionSource<string>> matched = [];
        lock (_gate)
        {
            _lines.Add(line);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Pattern.IsMatch(line))
                {
                    matched.Add(_waiters[i].Found);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var found in matched)
        {
            found.TrySetResult(line);
        }
    }

    /// <summary>Kills it if still running.</summary>
    /// <returns>A task that completes when it is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        await KillAsync().ConfigureAwait(false);
        _process.Dispose();
    }
}

/// <summary>Finds the build outputs of the repository's projects from a test's output folder.</summary>
public static class RepoPaths
{
    /// <summary>The repository root (the folder holding AgentStreaming.sln).</summary>
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AgentStreaming.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("AgentStreaming.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The build configuration of the running tests (<c>Release</c> or <c>Debug</c>).</summary>
    public static string Configuration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    /// <summary>The built assembly of a project, in the same configuration as the running tests.</summary>
    /// <param name="projectFolder">The project's folder, e.g. <c>Worker</c>.</param>
    /// <param name="assemblyName">The assembly file, e.g. <c>AgentStreaming.Worker.dll</c>.</param>
    /// <returns>Its full path.</returns>
    public static string ProjectOutput(string projectFolder, string assemblyName)
    {
        var configuration = Configuration;
        var path = Path.Combine(Root, projectFolder, "bin", configuration, "net10.0", assemblyName);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{assemblyName} is not built; build the solution first (dotnet build AgentStreaming.sln -c {configuration}).", path);
    }
}

using System.Diagnostics;
using System.Text;

namespace AgentStreaming.AppHost.Hosting;

/// <summary>
/// One supervised process of a resource (redis, a worker replica, the client): started through
/// <c>run-child.sh</c> so it cannot outlive the AppHost, its output captured line by line, its health probed,
/// and restarted after an unexpected exit when its policy says so.
/// </summary>
public sealed class ResourceInstance : IDisposable
{
    private readonly object _gate = new();
    private readonly Func<CancellationToken, Task<bool>>? _healthProbe;
    private TaskCompletionSource _healthy = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Process? _process;
    private CancellationTokenSource? _lifetime;
    private bool _stopRequested;
    private int _generation;

    internal ResourceInstance(
        string name,
        string resource,
        string kind,
        ProcessStartInfo? startInfo,
        Func<CancellationToken, Task<bool>>? healthProbe,
        RestartPolicy restartPolicy,
        bool echoConsole,
        IReadOnlyDictionary<string, string> endpoints)
    {
        Name = name;
        Resource = resource;
        Kind = kind;
        StartInfo = startInfo;
        _healthProbe = healthProbe;
        RestartPolicy = restartPolicy;
        EchoConsole = echoConsole;
        Endpoints = endpoints;
        State = startInfo is null ? ResourceState.Healthy : ResourceState.NotStarted;
        if (startInfo is null)
        {
            _healthy.TrySetResult();
        }
    }

    /// <summary>The instance name.</summary>
    public string Name { get; }

    /// <summary>The declared resource's name.</summary>
    public string Resource { get; }

    /// <summary>redis, project or external.</summary>
    public string Kind { get; }

    /// <summary>How its process is started (<see langword="null"/> for an external resource).</summary>
    public ProcessStartInfo? StartInfo { get; }

    /// <summary>The restart policy.</summary>
    public RestartPolicy RestartPolicy { get; }

    /// <summary>Whether its output is also written to the AppHost's console as it arrives.</summary>
    public bool EchoConsole { get; }

    /// <summary>Its endpoints.</summary>
    public IReadOnlyDictionary<string, string> Endpoints { get; }

    /// <summary>Its console output.</summary>
    public ConsoleLog Console { get; } = new();

    /// <summary>Its state.</summary>
    public ResourceState State { get; private set; }

    /// <summary>Its last exit code.</summary>
    public int? ExitCode { get; private set; }

    /// <summary>How many times it was restarted.</summary>
    public int Restarts { get; private set; }

    /// <summary>When its current process started.</summary>
    public DateTimeOffset? StartedAt { get; private set; }

    /// <summary>Its process id while running.</summary>
    public int? ProcessId
    {
        get
        {
            lock (_gate)
            {
                return _process is { HasExited: false } p ? p.Id : null;
            }
        }
    }

    /// <summary>Raised when the state changes.</summary>
    public event Action<ResourceInstance>? StateChanged;

    /// <summary>Completes when its current process has been healthy once.</summary>
    public Task Healthy
    {
        get
        {
            lock (_gate)
            {
                return _healthy.Task;
            }
        }
    }

    /// <summary>A snapshot for the dashboard and tests.</summary>
    /// <returns>The snapshot.</returns>
    public ResourceSnapshot Snapshot() => new(Name, Resource, Kind, State, ProcessId, ExitCode, StartedAt, Restarts, Endpoints);

    internal void SetState(ResourceState state)
    {
        lock (_gate)
        {
            if (State == state)
            {
                return;
            }

            State = state;
        }

        StateChanged?.Invoke(this);
    }

    /// <summary>Starts the process (no-op for an external resource or one already running).</summary>
    /// <param name="runChild">The path of run-child.sh.</param>
    /// <returns>A task that completes once the process started.</returns>
    internal Task StartAsync(string runChild)
    {
        if (StartInfo is null)
        {
            return Task.CompletedTask;
        }

        lock (_gate)
        {
            if (_process is { HasExited: false })
            {
                return Task.CompletedTask;
            }

            _stopRequested = false;
            _generation++;
            _lifetime?.Dispose();
            _lifetime = new CancellationTokenSource();
            if (_healthy.Task.IsCompleted)
            {
                _healthy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        SetState(ResourceState.Starting);
        // setsid: its own session and process group, so a terminal's Ctrl+C reaches only the AppHost, which then
        // stops resources in order (client, workers, then redis).
        var info = new ProcessStartInfo("setsid")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = StartInfo.WorkingDirectory,
        };
        info.ArgumentList.Add("/bin/sh");
        info.ArgumentList.Add(runChild);
        info.ArgumentList.Add(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        info.ArgumentList.Add(StartInfo.FileName);
        foreach (var argument in StartInfo.ArgumentList)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in StartInfo.Environment)
        {
            info.Environment[key] = value;
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException("The process did not start.");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            Console.Add($"Could not start {StartInfo.FileName}: {ex.Message}", isError: true);
            SetState(ResourceState.FailedToStart);
            return Task.CompletedTask;
        }

        lock (_gate)
        {
            _process = process;
            StartedAt = DateTimeOffset.UtcNow;
        }

        process.StandardInput.Close();
        int generation;
        CancellationToken token;
        lock (_gate)
        {
            generation = _generation;
            token = _lifetime!.Token;
        }

        _ = PumpAsync(process.StandardOutput.BaseStream, isError: false);
        _ = PumpAsync(process.StandardError.BaseStream, isError: true);
        SetState(ResourceState.Running);
        _ = ProbeHealthAsync(token);
        _ = SuperviseAsync(process, generation, runChild, token);
        return Task.CompletedTask;
    }

    /// <summary>Stops the process gracefully (SIGTERM), killing it after <paramref name="grace"/>.</summary>
    /// <param name="grace">How long to wait for a graceful exit.</param>
    /// <returns>A task that completes when it is gone.</returns>
    public async Task StopAsync(TimeSpan grace)
    {
        Process? process;
        lock (_gate)
        {
            _stopRequested = true;
            process = _process;
        }

        await (_lifetime?.CancelAsync() ?? Task.CompletedTask).ConfigureAwait(false);
        if (process is null || process.HasExited)
        {
            if (StartInfo is not null && State is not ResourceState.Exited and not ResourceState.FailedToStart)
            {
                SetState(ResourceState.Stopped);
            }

            return;
        }

        SetState(ResourceState.Stopping);
        Signal(process.Id, "TERM");
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().ConfigureAwait(false);
        }

        SetState(ResourceState.Stopped);
    }

    /// <summary>Kills the process outright (SIGKILL to it and its children), as a crash would; the restart policy applies.</summary>
    /// <returns>A task that completes when it is gone.</returns>
    public async Task KillAsync()
    {
        Process? process;
        lock (_gate)
        {
            process = _process;
        }

        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    private async Task SuperviseAsync(Process process, int generation, string runChild, CancellationToken token)
    {
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        Console.Add($"[apphost] {Name} exited with code {process.ExitCode}.", isError: process.ExitCode != 0);
        lock (_gate)
        {
            // A restart already started a newer process: this exit is that process's business no more.
            if (generation != _generation)
            {
                return;
            }

            ExitCode = process.ExitCode;
            if (_stopRequested)
            {
                return;
            }
        }

        if (RestartPolicy == RestartPolicy.OnFailure && process.ExitCode != 0)
        {
            SetState(ResourceState.Restarting);
            Restarts++;
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 250 * Restarts)), token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await StartAsync(runChild).ConfigureAwait(false);
            return;
        }

        SetState(ResourceState.Exited);
    }

    private async Task ProbeHealthAsync(CancellationToken token)
    {
        if (_healthProbe is null)
        {
            _healthy.TrySetResult();
            return;
        }

        while (!token.IsCancellationRequested && State is ResourceState.Running)
        {
            try
            {
                if (await _healthProbe(token).ConfigureAwait(false))
                {
                    SetState(ResourceState.Healthy);
                    lock (_gate)
                    {
                        _healthy.TrySetResult();
                    }

                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or System.Net.Sockets.SocketException or TaskCanceledException)
            {
                // Not up yet.
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task PumpAsync(Stream stream, bool isError)
    {
        var decoder = Encoding.UTF8.GetDecoder();
        var bytes = new byte[4096];
        var chars = new char[4096];
        var line = new StringBuilder();
        try
        {
            int read;
            while ((read = await stream.ReadAsync(bytes).ConfigureAwait(false)) > 0)
            {
                var count = decoder.GetChars(bytes, 0, read, chars, 0);
                if (EchoConsole)
                {
                    // The client's answer on stdout, its run id, tool calls and summary on stderr: the user wants both.
                    var target = isError ? System.Console.Error : System.Console.Out;
                    await target.WriteAsync(chars.AsMemory(0, count)).ConfigureAwait(false);
                    await target.FlushAsync().ConfigureAwait(false);
                }

                for (var i = 0; i < count; i++)
                {
                    if (chars[i] == '\n')
                    {
                        Console.Add(line.ToString().TrimEnd('\r'), isError);
                        line.Clear();
                    }
                    else
                    {
                        line.Append(chars[i]);
                    }
                }
            }
        }
        catch (IOException)
        {
            // The process went away.
        }

        if (line.Length > 0)
        {
            Console.Add(line.ToString(), isError);
        }
    }

    /// <summary>Releases the supervision resources (the process itself is stopped by <see cref="StopAsync"/>).</summary>
    public void Dispose()
    {
        _lifetime?.Dispose();
        lock (_gate)
        {
            _process?.Dispose();
        }
    }

    private static void Signal(int processId, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, processId.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false });
        kill?.WaitForExit();
    }
}

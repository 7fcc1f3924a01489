using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace AgentStreaming.Worker.OpenAI.Tests;

/// <summary>
/// The official <c>openai</c> npm package, run with the machine's Node: installed by the first test that needs it
/// (<c>npm install</c> into a folder of the temp directory, kept for later runs), then small ES module scripts run
/// against the Worker. A test fails with a clear message when Node, npm or the npm registry is missing.
/// </summary>
internal static class NodeOpenAI
{
    public const string Version = "7.60.0";
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? _installed;

    private static string Folder => Path.Combine(Path.GetTempPath(), "agentstreaming-openai-node-" + Version);

    /// <summary>Runs an ES module script next to the installed package; its last stdout line is its JSON result.</summary>
    public static async Task<JsonElement> RunAsync(string script, IReadOnlyDictionary<string, string> environment, TimeSpan timeout)
    {
        var folder = await InstallAsync();
        var file = Path.Combine(folder, "test-" + Guid.NewGuid().ToString("N")[..12] + ".mjs");
        await File.WriteAllTextAsync(file, script);
        try
        {
            var (exitCode, stdout, stderr) = await ExecAsync(Node, [file], folder, environment, timeout);
            Assert.True(exitCode == 0, $"The Node script failed (exit {exitCode}):\n{stderr}\n{stdout}");
            var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault()
                ?? throw new InvalidOperationException("The Node script printed nothing. stderr:\n" + stderr);
            return JsonDocument.Parse(last).RootElement.Clone();
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static string Node => File.Exists("/usr/bin/node") ? "/usr/bin/node" : "node";

    private static async Task<string> InstallAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_installed is not null)
            {
                return _installed;
            }

            var folder = Folder;
            var package = Path.Combine(folder, "node_modules", "openai", "package.json");
            if (!File.Exists(package) || !(await File.ReadAllTextAsync(package)).Contains($"\"version\": \"{Version}\"", StringComparison.Ordinal))
            {
                // Install into a folder of this process, then move it in place: a half-done install is never used.
                var staging = folder + ".staging-" + Environment.ProcessId;
                if (Directory.Exists(staging))
                {
                    Directory.Delete(staging, recursive: true);
                }

                Directory.CreateDirectory(staging);
                await File.WriteAllTextAsync(Path.Combine(staging, "package.json"), "{\"name\":\"agentstreaming-openai-node-tests\",\"private\":true,\"type\":\"module\"}");
                var (exitCode, stdout, stderr) = await ExecAsync("npm", ["install", "--no-audit", "--no-fund", "--prefix", staging, "openai@" + Version], staging, new Dictionary<string, string>(), TimeSpan.FromMinutes(3));
                if (exitCode != 0)
                {
                    throw new InvalidOperationException($"npm could not install openai@{Version} (is the npm registry reachable?). Exit {exitCode}:\n{stderr}\n{stdout}");
                }

                if (Directory.Exists(folder))
                {
                    Directory.Delete(folder, recursive: true);
                }

                Directory.Move(staging, folder);
            }

            _installed = folder;
            return folder;
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> ExecAsync(string program, string[] arguments, string workingDirectory, IReadOnlyDictionary<string, string> environment, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"'{program}' did not start.");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"'{program}' is not installed (Debian: apt-get install nodejs npm): {ex.Message}", ex);
        }

        using (process)
        {
            process.StandardInput.Close();
            var stdout = new StringBuilder();
            var stderr = new StringBuilder();
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.Append(e.Data).Append('\n'); } } };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.Append(e.Data).Append('\n'); } } };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var deadline = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                throw new TimeoutException($"'{program} {string.Join(' ', arguments)}' did not finish within {timeout.TotalSeconds:0} s.\n{stderr}\n{stdout}");
            }

            // Let the output handlers drain.
            process.WaitForExit();
            lock (stdout)
            {
                lock (stderr)
                {
                    return (process.ExitCode, stdout.ToString(), stderr.ToString());
                }
            }
        }
    }
}

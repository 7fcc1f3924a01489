using AgentStreaming.Testing;
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
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(3);
    private static string? _installed;
    private static string? _installFailure;

    private static string Folder => Path.Combine(Path.GetTempPath(), "agentstreaming-openai-node-" + Version);

    /// <summary>Runs an ES module script next to the installed package; its last stdout line is its JSON result.</summary>
    public static async Task<JsonElement> RunAsync(string script, IReadOnlyDictionary<string, string> environment, TimeSpan timeout)
    {
        var folder = await InstallAsync();
        var file = Path.Combine(folder, "test-" + Guid.NewGuid().ToString("N")[..12] + ".mjs");
        await File.WriteAllTextAsync(file, script);
        try
        {
            var (exitCode, stdout, stderr) = await ProcessExits.RunAsync(Node, [file], timeout, folder, environment);
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
        // Another test may be installing: it ends within InstallTimeout (npm is killed then).
        if (!await Gate.WaitAsync(InstallTimeout + TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException($"Another test's npm install of openai@{Version} into {Folder} did not end within {InstallTimeout}.");
        }

        try
        {
            if (_installed is not null)
            {
                return _installed;
            }

            // One failed install (no registry: npm waits out its timeout) fails the later tests at once, not once each.
            if (_installFailure is not null)
            {
                throw new InvalidOperationException("An earlier test could not install the openai npm package: " + _installFailure);
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
                ProcessResult npm;
                try
                {
                    npm = await ProcessExits.RunAsync("npm", ["install", "--no-audit", "--no-fund", "--prefix", staging, "openai@" + Version], InstallTimeout, staging);
                }
                catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
                {
                    _installFailure = ex.Message;
                    throw;
                }

                if (npm.ExitCode != 0)
                {
                    _installFailure = $"npm could not install openai@{Version} (is the npm registry reachable?). Exit {npm.ExitCode}:\n{npm.Stderr}\n{npm.Stdout}";
                    throw new InvalidOperationException(_installFailure);
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
}

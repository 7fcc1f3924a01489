using System.Diagnostics;
using AgentStreaming.Testing;

namespace AgentStreaming.AppHost.Tests;

/// <summary>Whatever the AppHost starts, it stops: on dispose, and when its launcher is killed.</summary>
public sealed class LifetimeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task DisposingTheApp_LeavesNoProcessBehind()
    {
        var before = ProcessTable.Pids();
        var system = await AspireSystem.StartAsync(workerReplicas: 2);
        IReadOnlySet<int> started;
        try
        {
            started = ProcessTable.AppProcesses(system.DataDirectory, before);
            output.WriteLine(ProcessTable.Describe(started));
            Assert.Contains(started, pid => ProcessTable.Snapshot().Any(p => p.Pid == pid && p.CommandLine.Contains("redis-server", StringComparison.Ordinal)));
            Assert.True(started.Count(pid => ProcessTable.Snapshot().Any(p => p.Pid == pid && p.CommandLine.Contains("AgentStreaming.Worker", StringComparison.Ordinal))) >= 2,
                "Expected two Worker processes:\n" + ProcessTable.Describe(started));

            // What a dispose that hangs would kill (AspireSystem): this app's DCP, its redis-server and both Workers.
            var own = ProcessTable.OwnAppProcesses(system.DataDirectory);
            var commandLines = ProcessTable.Snapshot().Where(p => own.Contains(p.Pid)).Select(p => p.CommandLine).ToList();
            Assert.True(
                commandLines.Any(c => c.Contains("/tools/dcp ", StringComparison.Ordinal))
                    && commandLines.Any(c => c.Contains("redis-server", StringComparison.Ordinal))
                    && commandLines.Count(c => c.Contains("AgentStreaming.Worker", StringComparison.Ordinal)) >= 2,
                "The app's own processes should hold DCP, redis-server and two Workers:\n" + ProcessTable.Describe(own));
        }
        finally
        {
            await system.DisposeAsync();
        }

        await AspireSystem.WaitUntilAsync(
            () => Task.FromResult(started.All(pid => !ProcessTable.IsAlive(pid))),
            TimeSpan.FromSeconds(30),
            () => "still running:\n" + ProcessTable.Describe(started.Where(ProcessTable.IsAlive)));
    }

    [Fact]
    public async Task KillingTheDotnetRunLauncher_StopsTheAppHostAndEverythingItStarted()
    {
        var data = Directory.CreateTempSubdirectory("agent-streaming-launcher-").FullName;
        var before = ProcessTable.Pids();
        var start = new ProcessStartInfo("dotnet",
            ["run", "--project", Path.Combine(RepoPaths.Root, "AppHost"), "--no-build", "-c", RepoPaths.Configuration, "--no-launch-profile", "--",
             $"--Redis:DataDirectory={data}", "--Client:Enabled=false"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // The http launch profile's settings, on free ports so a developer's running AppHost is not in the way.
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{FreePort.Next()}";
        start.Environment["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = $"http://127.0.0.1:{FreePort.Next()}";
        start.Environment["ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"] = $"http://127.0.0.1:{FreePort.Next()}";
        start.Environment["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true";
        start.Environment["Dashboard__AllowAnonymous"] = "true";
        using var launcher = Process.Start(start)!;
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        launcher.OutputDataReceived += (_, e) => { if (e.Data is not null) { log.Enqueue(e.Data); } };
        launcher.ErrorDataReceived += (_, e) => { if (e.Data is not null) { log.Enqueue(e.Data); } };
        launcher.BeginOutputReadLine();
        launcher.BeginErrorReadLine();
        IReadOnlySet<int> started = new HashSet<int>();
        try
        {
            // Running: a Worker process under DCP.
            await AspireSystem.WaitUntilAsync(
                () =>
                {
                    started = ProcessTable.AppProcesses(data, before);
                    return Task.FromResult(ProcessTable.Snapshot().Any(p => started.Contains(p.Pid) && p.CommandLine.Contains("AgentStreaming.Worker", StringComparison.Ordinal)));
                },
                AspireSystem.StartTimeout,
                () => string.Join('\n', log));
            var appHost = ProcessTable.Snapshot().Single(p => p.Parent == launcher.Id && p.CommandLine.Contains("AgentStreaming.AppHost", StringComparison.Ordinal)).Pid;
            started = new HashSet<int>(ProcessTable.AppProcesses(data, before)) { appHost };
            output.WriteLine(ProcessTable.Describe(started));

            launcher.Kill();

            await AspireSystem.WaitUntilAsync(
                () => Task.FromResult(started.All(pid => !ProcessTable.IsAlive(pid))),
                TimeSpan.FromSeconds(60),
                () => "still running:\n" + ProcessTable.Describe(started.Where(ProcessTable.IsAlive)) + "\n" + string.Join('\n', log));
        }
        finally
        {
            foreach (var pid in started.Where(ProcessTable.IsAlive))
            {
                ProcessExits.Kill(pid);
            }

            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task TwoAppHostsOnOneDataFolder_TheSecondFailsWithAClearMessage()
    {
        var data = Directory.CreateTempSubdirectory("agent-streaming-lock-").FullName;
        try
        {
            using var deadline = new CancellationTokenSource(AspireSystem.StartTimeout);
            await using var first = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>([$"--Redis:DataDirectory={data}", "--Client:Enabled=false"], deadline.Token);
            var error = await Assert.ThrowsAnyAsync<Exception>(() =>
                DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>([$"--Redis:DataDirectory={data}", "--Client:Enabled=false"], deadline.Token));
            Assert.False(deadline.IsCancellationRequested, $"Creating the second AppHost neither failed nor succeeded within {AspireSystem.StartTimeout}.");
            var message = Flatten(error);
            Assert.Contains("Another AppHost", message, StringComparison.Ordinal);
            Assert.Contains(data, message, StringComparison.Ordinal);
            Assert.Contains("--Redis:DataDirectory", message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    private static string Flatten(Exception error)
    {
        var messages = new List<string>();
        for (var e = error; e is not null; e = e.InnerException)
        {
            messages.Add(e.Message);
        }

        return string.Join(" | ", messages);
    }
}

using AgentStreaming.AppHost.Hosting;

namespace AgentStreaming.AppHost;

/// <summary>What the AppHost prints: where things are, and resource state changes.</summary>
internal static class AppHostConsole
{
    public static async Task RunAsync(DistributedApplication app)
    {
        var run = app.RunAsync();
        await WaitUntilStartedAsync(app, run);
        Console.WriteLine();
        Console.WriteLine("AgentStreaming AppHost");
        Console.WriteLine($"  dashboard  {app.DashboardUrl}");
        foreach (var instance in app.Instances)
        {
            var where = string.Join("  ", instance.Endpoints.Select(e => e.Key == "http" ? $"{e.Value} (web chat /chat/, Orleans dashboard /dashboard)" : $"{e.Key} {e.Value}"));
            Console.WriteLine($"  {instance.Name,-10} {instance.State,-9} {where}");
            instance.StateChanged += changed => Console.WriteLine($"[apphost] {changed.Name}: {changed.State}{(changed.State is ResourceState.Exited or ResourceState.Restarting ? $" (exit code {changed.ExitCode})" : string.Empty)}");
        }

        Console.WriteLine("Press Ctrl+C to stop everything.");
        Console.WriteLine();
        await run;
    }

    private static async Task WaitUntilStartedAsync(DistributedApplication app, Task run)
    {
        while (!run.IsCompleted && (app.Instances.Count == 0 || app.Instances.Any(i => i.State is ResourceState.NotStarted)))
        {
            await Task.WhenAny(run, Task.Delay(100));
        }

        if (run.IsFaulted)
        {
            await run;
        }
    }
}

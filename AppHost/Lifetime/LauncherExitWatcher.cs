using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.AppHost.Lifetime;

/// <summary>
/// Stops the application when the process that launched the AppHost dies. <c>dotnet run</c> is only a launcher: it
/// starts the AppHost as a child and, when it is killed (<c>kill -9</c>, a closed terminal), the AppHost is re-parented
/// and would otherwise keep Redis, the Workers and DCP running with nobody to stop them.
/// </summary>
/// <remarks>Linux only (reads <c>/proc/self/stat</c>); elsewhere it does nothing.</remarks>
internal sealed partial class LauncherExitWatcher(IHostApplicationLifetime lifetime, ILogger<LauncherExitWatcher> logger) : BackgroundService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (ParentProcessId() is not { } launcher || launcher <= 1)
        {
            return;
        }

        using var timer = new PeriodicTimer(PollInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            if (ParentProcessId() != launcher)
            {
                LauncherExited(logger, launcher);
                lifetime.StopApplication();
                return;
            }
        }
    }

    private static int? ParentProcessId()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            // pid (comm) state ppid …; comm may hold spaces, so read after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "The process that launched the AppHost ({Launcher}) has exited; stopping every resource.")]
    private static partial void LauncherExited(ILogger logger, int launcher);
}

using System.Globalization;

namespace AgentStreaming.AppHost.Tests;

/// <summary>Reads Linux's process table (/proc): command lines and descendants.</summary>
internal static class ProcessTable
{
    /// <summary>Every live process with its parent and command line.</summary>
    public static IReadOnlyList<(int Pid, int Parent, string CommandLine)> Snapshot()
    {
        var result = new List<(int, int, string)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                // pid (comm) state ppid …; comm may hold spaces, so parse after the last ')'.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[0] == "Z")
                {
                    continue;
                }

                var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim();
                result.Add((pid, int.Parse(fields[1], CultureInfo.InvariantCulture), commandLine));
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
        }

        return result;
    }

    /// <summary>The processes DCP runs for the app, found by what only they run: DCP itself, its redis-server with the app's data folder, and the Workers and Clients DCP launches with <c>dotnet run</c>.</summary>
    public static IReadOnlySet<int> AppProcesses(string dataDirectory, IReadOnlySet<int> before)
    {
        var snapshot = Snapshot();
        return Descendants(snapshot, snapshot
            .Where(p => !before.Contains(p.Pid))
            .Where(p => p.CommandLine.Contains("/tools/dcp ", StringComparison.Ordinal) || p.CommandLine.Contains(dataDirectory, StringComparison.Ordinal))
            .Select(p => p.Pid));
    }

    /// <summary>The <paramref name="roots"/> and every process under them.</summary>
    private static HashSet<int> Descendants(IReadOnlyList<(int Pid, int Parent, string CommandLine)> snapshot, IEnumerable<int> roots)
    {
        var result = new HashSet<int>(roots);
        var frontier = new Queue<int>(result);
        while (frontier.Count > 0)
        {
            var parent = frontier.Dequeue();
            foreach (var child in snapshot.Where(p => p.Parent == parent))
            {
                if (result.Add(child.Pid))
                {
                    frontier.Enqueue(child.Pid);
                }
            }
        }

        return result;
    }

    /// <summary>
    /// The processes of an app this test process started, with everything under them (never another test run's app):
    /// DCP (it detaches from this process, and watches it: <c>dcp start-apiserver --monitor &lt;this pid&gt;</c>) and
    /// whatever runs with the app's data folder.
    /// </summary>
    public static IReadOnlySet<int> OwnAppProcesses(string dataDirectory)
    {
        var snapshot = Snapshot();
        var monitorsUs = string.Create(CultureInfo.InvariantCulture, $"--monitor {Environment.ProcessId} ");
        return Descendants(snapshot, snapshot
            .Where(p => (p.CommandLine.Contains("/tools/dcp ", StringComparison.Ordinal) && (p.CommandLine + " ").Contains(monitorsUs, StringComparison.Ordinal))
                || p.CommandLine.Contains(dataDirectory, StringComparison.Ordinal))
            .Select(p => p.Pid));
    }

    public static IReadOnlySet<int> Pids() => Snapshot().Select(p => p.Pid).ToHashSet();

    public static bool IsAlive(int pid) => Snapshot().Any(p => p.Pid == pid);

    public static string Describe(IEnumerable<int> pids)
    {
        var snapshot = Snapshot().ToDictionary(p => p.Pid);
        return string.Join('\n', pids.Select(pid => snapshot.TryGetValue(pid, out var p) ? $"{pid} {p.CommandLine}" : $"{pid} (gone)"));
    }
}

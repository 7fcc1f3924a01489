using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace AgentStreaming.Benchmarks;

/// <summary>CPU seconds used by this process and by redis-server over a measured section.</summary>
/// <param name="RedisPerNode">Redis CPU seconds of each primary (one on a single server).</param>
internal readonly record struct CpuUse(double ClientSeconds, double RedisSeconds, double WallSeconds, string Commands, double[] RedisPerNode)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"client {ClientSeconds:0.00} s ({100 * ClientSeconds / WallSeconds:0}% of a core), redis {RedisSeconds:0.00} s ({100 * RedisSeconds / WallSeconds:0}%)")
        + (RedisPerNode.Length > 1 ? " = " + string.Join(" + ", RedisPerNode.Select(n => string.Create(CultureInfo.InvariantCulture, $"{n:0.00} s"))) + " per node" : string.Empty);
}

/// <summary>One row of <c>INFO commandstats</c>.</summary>
internal readonly record struct CommandStat(string Name, long Calls, double Usec, double PerCall);

/// <remarks>
/// On Redis Cluster the figures are summed over every primary (<c>INFO</c> asked of each node), so Redis CPU is the
/// whole cluster's; on a single server there is one node.
/// </remarks>
internal sealed class CpuMeter
{
    private readonly IDatabase _database;
    private TimeSpan _client;
    private double[] _redis = [];
    private long _started;

    private CpuMeter(IDatabase database) => _database = database;

    public static async Task<CpuMeter> StartAsync(IDatabase database)
    {
        var meter = new CpuMeter(database);
        await ResetCommandStatsAsync(database).ConfigureAwait(false);
        meter._redis = await RedisCpuSecondsPerNodeAsync(database).ConfigureAwait(false);
        using var process = Process.GetCurrentProcess();
        meter._client = process.TotalProcessorTime;
        meter._started = Stopwatch.GetTimestamp();
        return meter;
    }

    public async Task<CpuUse> StopAsync()
    {
        var wall = Stopwatch.GetElapsedTime(_started).TotalSeconds;
        using var process = Process.GetCurrentProcess();
        var client = (process.TotalProcessorTime - _client).TotalSeconds;
        var after = await RedisCpuSecondsPerNodeAsync(_database).ConfigureAwait(false);
        double[] perNode = after.Length == _redis.Length ? [.. after.Zip(_redis, (a, b) => a - b)] : [after.Sum() - _redis.Sum()];
        var commands = await CommandStatsAsync(_database, wall).ConfigureAwait(false);
        return new CpuUse(client, perNode.Sum(), wall, commands, perNode);
    }

    public static async Task<string> InfoAsync(IDatabase database, string section)
        => (string?)await database.ExecuteAsync("INFO", section).ConfigureAwait(false) ?? string.Empty;

    public static string? InfoField(string info, string name)
    {
        foreach (var line in info.Split('\n'))
        {
            if (line.StartsWith(name + ":", StringComparison.Ordinal))
            {
                return line[(name.Length + 1)..].Trim();
            }
        }

        return null;
    }

    /// <summary>Clears Redis's per-command statistics (CONFIG RESETSTAT) on every primary.</summary>
    public static Task ResetCommandStatsAsync(IDatabase database)
        => Task.WhenAll(Primaries(database).Select(s => s.ExecuteAsync("CONFIG", "RESETSTAT")));

    /// <summary>The primaries the database's multiplexer is connected to (one on a single server).</summary>
    private static IServer[] Primaries(IDatabase database)
        => [.. database.Multiplexer.GetServers().Where(s => s.IsConnected && !s.IsReplica)];

    /// <summary>One <c>INFO</c> section of every primary.</summary>
    private static Task<string[]> InfoOfEachAsync(IDatabase database, string section)
        => Task.WhenAll(Primaries(database).Select(async s => (string?)await s.ExecuteAsync("INFO", section).ConfigureAwait(false) ?? string.Empty));

    /// <summary>CPU seconds each primary has used since it started, in the order of <see cref="IConnectionMultiplexer.GetServers"/>.</summary>
    public static async Task<double[]> RedisCpuSecondsPerNodeAsync(IDatabase database)
        => [.. (await InfoOfEachAsync(database, "cpu").ConfigureAwait(false)).Select(CpuSeconds)];

    /// <summary>The busiest commands since the last reset: calls and server time per call (INFO commandstats).</summary>
    public static async Task<string> CommandStatsAsync(IDatabase database, double wallSeconds)
    {
        var rows = await ReadCommandStatsAsync(database).ConfigureAwait(false);
        return string.Join("; ", rows.OrderByDescending(r => r.Usec).Take(6).Select(r => string.Create(CultureInfo.InvariantCulture,
            $"{r.Name} {r.Calls / wallSeconds:0}/s x {r.PerCall:0.0} us = {r.Usec / 1e6 / wallSeconds * 100:0}% of a core")));
    }

    /// <summary>Calls and server time of every command since the last reset (INFO commandstats), as figures.</summary>
    /// <remarks>A script's own row (<c>evalsha</c>) includes the commands it calls, which also have rows of their own.</remarks>
    public static async Task<IReadOnlyList<CommandStat>> ReadCommandStatsAsync(IDatabase database)
    {
        var rows = new List<CommandStat>();
        foreach (var line in (await InfoOfEachAsync(database, "commandstats").ConfigureAwait(false)).SelectMany(i => i.Split('\n')))
        {
            // cmdstat_xadd:calls=2001,usec=5000,usec_per_call=2.50,...
            if (!line.StartsWith("cmdstat_", StringComparison.Ordinal))
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = line[8..colon];
            long calls = 0;
            double usec = 0, perCall = 0;
            foreach (var pair in line[(colon + 1)..].Trim().Split(','))
            {
                var parts = pair.Split('=');
                switch (parts[0])
                {
                    case "calls": calls = long.Parse(parts[1], CultureInfo.InvariantCulture); break;
                    case "usec": usec = double.Parse(parts[1], CultureInfo.InvariantCulture); break;
                    case "usec_per_call": perCall = double.Parse(parts[1], CultureInfo.InvariantCulture); break;
                    default: break;
                }
            }

            rows.Add(new CommandStat(name, calls, usec, perCall));
        }

        // Summed over the nodes (one row per command).
        return [.. rows.GroupBy(r => r.Name).Select(g => new CommandStat(g.Key, g.Sum(r => r.Calls), g.Sum(r => r.Usec),
            g.Sum(r => r.Calls) == 0 ? 0 : g.Sum(r => r.Usec) / g.Sum(r => r.Calls)))];
    }

    /// <summary>CPU seconds redis-server has used since it started (INFO cpu: used_cpu_sys + used_cpu_user), summed over the primaries.</summary>
    public static async Task<double> RedisCpuSecondsAsync(IDatabase database)
        => (await RedisCpuSecondsPerNodeAsync(database).ConfigureAwait(false)).Sum();

    private static double CpuSeconds(string info)
    {
        double Field(string name) => double.Parse(InfoField(info, name) ?? "0", CultureInfo.InvariantCulture);
        return Field("used_cpu_sys") + Field("used_cpu_user");
    }
}

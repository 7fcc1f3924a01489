using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace AgentStreaming.Benchmarks;

/// <summary>
/// The capacity scenario's <c>node</c> side: Vercel's <c>resumable-stream</c> npm package on node-redis, run by
/// <c>bench/node-resumable-stream/capacity.mjs</c> in a Node process of its own against the same redis-server, one
/// process per step (same load: runs × 50 chunks/s, one live reader each on the package's resume path). Its pinned
/// packages are installed with npm into that folder when missing.
/// </summary>
internal static class NodeResumableStream
{
    private const string DriverFolder = "bench/node-resumable-stream";
    private const string Driver = "capacity.mjs";
    private static readonly SemaphoreSlim s_install = new(1, 1);
    private static bool s_installed;

    /// <summary>Measures one step; the step's figures come from the driver (its own CPU, and Redis's over its window).</summary>
    public static async Task<CapacityResult> MeasureAsync(BenchContext context, CapacitySettings settings, int runs, Action<string> step)
    {
        var folder = FindFolder();
        await EnsureInstalledAsync(folder, step).ConfigureAwait(false);
        string[] arguments =
        [
            "--expose-gc", Driver, "--redis", RedisUrl(context), "--runs", I(runs), "--rate", I(settings.ChunksPerSecond),
            "--warmup-seconds", I(settings.Warmup.TotalSeconds), "--step-seconds", I(settings.Measured.TotalSeconds),
            "--min-measured-seconds", I(settings.MinimumMeasured.TotalSeconds), "--drain-seconds", I(settings.DrainTimeout.TotalSeconds),
        ];
        var timeout = settings.Warmup + settings.Measured + settings.DrainTimeout + TimeSpan.FromMinutes(2);
        var (exitCode, stdout, stderr) = await RunAsync("node", arguments, folder, step, timeout).ConfigureAwait(false);
        var json = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        if (exitCode != 0 || json is null)
        {
            throw new InvalidOperationException($"The node side's driver ({DriverFolder}/{Driver}) failed (exit {exitCode}) at {runs} runs:\n{stderr}");
        }

        return ToResult(JsonDocument.Parse(json).RootElement, settings);
    }

    private static CapacityResult ToResult(JsonElement r, CapacitySettings settings)
    {
        var latency = Histogram(r.GetProperty("latency"));
        var gc = r.GetProperty("gc");
        return new CapacityResult(
            CapacitySide.Node,
            r.GetProperty("runs").GetInt32(),
            settings.ChunksPerSecond,
            TimeSpan.FromSeconds(r.GetProperty("measuredSeconds").GetDouble()),
            r.GetProperty("cutReason").ValueKind == JsonValueKind.String ? r.GetProperty("cutReason").GetString() : null,
            latency,
            // No Redis-stored entry to split the delivery at: the chunk goes from the producer's memory to PUBLISH.
            new LatencyHistogram(offsetMs: 5),
            new LatencyHistogram(offsetMs: 5),
            Histogram(r.GetProperty("pacerLag")),
            r.GetProperty("offered").GetInt64(),
            r.GetProperty("appended").GetInt64(),
            SkippedBusy: 0,
            r.GetProperty("skippedLate").GetInt64(),
            r.GetProperty("delivered").GetInt64(),
            r.GetProperty("entries").GetInt64(),
            r.GetProperty("violations").GetInt64(),
            [.. r.GetProperty("violationSamples").EnumerateArray().Select(s => s.GetString() ?? string.Empty)],
            r.GetProperty("undelivered").GetInt64(),
            r.GetProperty("drained").GetBoolean(),
            r.GetProperty("clientCpuSeconds").GetDouble(),
            r.GetProperty("redisCpuSeconds").GetDouble(),
            [.. r.GetProperty("commands").EnumerateArray().Select(c => new CommandStat(
                c.GetProperty("name").GetString() ?? "?", c.GetProperty("calls").GetInt64(), c.GetProperty("usec").GetDouble(),
                c.GetProperty("usec").GetDouble() / Math.Max(1, c.GetProperty("calls").GetInt64())))],
            NumberOrNaN(r.GetProperty("heapBytesPerRun")),
            NumberOrNaN(r.GetProperty("rssBytesPerRun")),
            r.GetProperty("eventLoop").GetString() ?? string.Empty,
            Pacers: 1,
            (gc.GetProperty("minor").GetInt32(), gc.GetProperty("incremental").GetInt32(), gc.GetProperty("major").GetInt32()),
            TimeSpan.FromMilliseconds(gc.GetProperty("pauseMs").GetDouble()));
    }

    /// <summary>The driver's buckets (same layout as <see cref="LatencyHistogram"/>): [midpoint ms, samples] pairs.</summary>
    private static LatencyHistogram Histogram(JsonElement buckets)
    {
        var histogram = new LatencyHistogram();
        foreach (var bucket in buckets.EnumerateArray())
        {
            histogram.Record(bucket[0].GetDouble(), (long)bucket[1].GetDouble());
        }

        return histogram;
    }

    private static double NumberOrNaN(JsonElement value) => value.ValueKind == JsonValueKind.Number ? value.GetDouble() : double.NaN;

    private static string RedisUrl(BenchContext context) => context.Admin.Multiplexer.GetEndPoints()[0] switch
    {
        IPEndPoint ip => string.Create(CultureInfo.InvariantCulture, $"redis://{(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip.Address}]" : ip.Address.ToString())}:{ip.Port}"),
        DnsEndPoint dns => string.Create(CultureInfo.InvariantCulture, $"redis://{dns.Host}:{dns.Port}"),
        var other => throw new InvalidOperationException($"The node side needs a host and port for redis-server, not '{other}'."),
    };

    /// <summary>The driver's folder: found above the working directory or this assembly (the repository's <c>bench/</c>).</summary>
    private static string FindFolder()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                var folder = Path.Combine(directory.FullName, DriverFolder);
                if (File.Exists(Path.Combine(folder, Driver)))
                {
                    return folder;
                }
            }
        }

        throw new InvalidOperationException($"The node side's driver {DriverFolder}/{Driver} was not found above {Environment.CurrentDirectory} or {AppContext.BaseDirectory}: run the benchmark from the repository (or leave 'node' out of --side).");
    }

    /// <summary>Installs the driver's pinned packages (package.json) with npm when any is missing or of another version.</summary>
    private static async Task EnsureInstalledAsync(string folder, Action<string> step)
    {
        await s_install.WaitAsync().ConfigureAwait(false);
        try
        {
            if (s_installed)
            {
                return;
            }

            using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(folder, "package.json")).ConfigureAwait(false));
            var pinned = manifest.RootElement.GetProperty("dependencies").EnumerateObject().Select(d => (d.Name, Version: d.Value.GetString() ?? "?")).ToArray();
            var missing = pinned.Where(p => InstalledVersion(folder, p.Name) != p.Version).ToArray();
            if (missing.Length > 0)
            {
                var what = string.Join(", ", missing.Select(p => $"{p.Name}@{p.Version}"));
                step($"   node: installing {what} into {folder}/node_modules (npm install)");
                var (exitCode, stdout, stderr) = await RunAsync("npm", ["install", "--no-package-lock", "--no-audit", "--no-fund"], folder, _ => { }, TimeSpan.FromMinutes(5)).ConfigureAwait(false);
                var still = pinned.Where(p => InstalledVersion(folder, p.Name) != p.Version).ToArray();
                if (exitCode != 0 || still.Length > 0)
                {
                    throw new InvalidOperationException(
                        $"npm could not install {what} for the node side (exit {exitCode}; is the npm registry reachable?). Install them with " +
                        $"'cd {DriverFolder} && npm install --no-package-lock', or leave 'node' out of --side.\n{stderr}\n{stdout}");
                }
            }

            s_installed = true;
        }
        finally
        {
            s_install.Release();
        }
    }

    private static string? InstalledVersion(string folder, string package)
    {
        var path = Path.Combine(folder, "node_modules", package, "package.json");
        if (!File.Exists(path))
        {
            return null;
        }

        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.TryGetProperty("version", out var version) ? version.GetString() : null;
    }

    /// <summary>Runs a program to its end; its stderr lines go to <paramref name="progress"/> as they come.</summary>
    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string program, IEnumerable<string> arguments, string folder, Action<string> progress, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = start };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            lock (stdout)
            {
                stdout.Append(e.Data).Append('\n');
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (stderr)
            {
                stderr.Append(e.Data).Append('\n');
            }

            progress(e.Data);
        };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"The node side needs '{program}' (Node.js 20 or later and npm; Debian: apt-get install nodejs npm), or leave 'node' out of --side: {e.Message}", e);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            throw new TimeoutException($"'{program} {string.Join(' ', start.ArgumentList)}' did not finish within {timeout.TotalSeconds:0} s; it was stopped.\n{stderr}");
        }

        process.WaitForExit(); // the output handlers drain
        lock (stdout)
        {
            lock (stderr)
            {
                return (process.ExitCode, stdout.ToString(), stderr.ToString());
            }
        }
    }

    private static string I(double value) => value.ToString(CultureInfo.InvariantCulture);
}

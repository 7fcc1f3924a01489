using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AgentStreaming.Testing;
using StackExchange.Redis;

namespace AgentStreaming.Chaos.Soak;

/// <summary>What the soak runs.</summary>
internal sealed record SoakSettings(TimeSpan Duration, bool Cluster, int Workers, int Conversations, double TokensPerSecond, string? LogDirectory = null);

/// <summary>
/// Worker processes on one Redis (a server with AOF, or a 3+3 Redis Cluster), a steady load of runs across
/// conversations through the HTTP API of random Workers, readers that drop at random and resume with
/// <c>Last-Event-ID</c> on another random Worker, and faults on a schedule: a random Worker's <c>kill -9</c> every 30 s
/// (restarted), a Worker frozen with <c>SIGSTOP</c> for 10 s every minute, and every 2 minutes a Redis restart (the
/// cluster: a random primary's <c>kill -9</c>, restarted to rejoin as a replica).
/// </summary>
internal sealed class Soak
{
    private const string Agent = "TravelPlanner";
    private static readonly string[] Terminal = ["done", "error", "cancelled"];
    private readonly SoakSettings _settings;
    private readonly string _redis;
    private readonly string _clusterId = "soak-" + Guid.NewGuid().ToString("N")[..8];
    private readonly WorkerProcess?[] _workers;
    private readonly ConcurrentBag<RunRecord> _runs = [];
    private readonly ConcurrentDictionary<string, int> _statuses = new();
    private readonly ConcurrentBag<double> _redisRecoveries = [];
    private readonly Lock _workersGate = new();
    private readonly ConcurrentQueue<(string Name, string Output)> _pastOutputs = new();
    private int _workerStarts;
    private int _failedStarts;
    private int _workerKills;
    private int _freezes;
    private int _redisFaults;
    private int _shown;
    private int _shownAnswers;
    private int _shownFailures;

    /// <summary>Each attempt numbers its entries in a range of its own this long (the writer's claim).</summary>
    private const long AttemptRange = 1_000_000;

    private Soak(SoakSettings settings, string redis)
    {
        _settings = settings;
        _redis = redis;
        _workers = new WorkerProcess?[settings.Workers];
    }

    public static async Task<SoakReport> RunAsync(SoakSettings settings)
    {
        RedisServer? server = null;
        RedisCluster? cluster = null;
        try
        {
            if (settings.Cluster)
            {
                cluster = await RedisCluster.StartAsync(primaries: 3, replicasPerPrimary: 1);
            }
            else
            {
                server = await RedisServer.StartAsync(appendOnly: true);
            }

            var soak = new Soak(settings, cluster?.ConnectionString ?? server!.ConnectionString);
            return await soak.RunCoreAsync(server, cluster);
        }
        finally
        {
            if (cluster is not null)
            {
                await cluster.DisposeAsync();
            }

            if (server is not null)
            {
                await server.DisposeAsync();
            }
        }
    }

    private async Task<SoakReport> RunCoreAsync(RedisServer? server, RedisCluster? cluster)
    {
        try
        {
            for (var i = 0; i < _workers.Length; i++)
            {
                _workers[i] = await StartWorkerAsync(i);
            }

            var started = Stopwatch.StartNew();
            using var loadEnds = new CancellationTokenSource(_settings.Duration);
            var faults = Task.WhenAll(
                EveryAsync(TimeSpan.FromSeconds(30), KillWorkerAsync, loadEnds.Token),
                EveryAsync(TimeSpan.FromSeconds(60), FreezeWorkerAsync, loadEnds.Token),
                EveryAsync(TimeSpan.FromMinutes(2), () => RedisFaultAsync(server, cluster), loadEnds.Token));
            var load = Task.WhenAll(Enumerable.Range(0, _settings.Conversations).Select(c => ConversationAsync(c, loadEnds.Token)));
            await faults;
            // The conversations stop starting runs at the end; runs in flight are read to their end (3 minutes at most).
            try
            {
                await load.WaitAsync(TimeSpan.FromMinutes(3));
            }
            catch (TimeoutException)
            {
                Log($"runs still unfinished 3 minutes after the load ended: {string.Join(", ", _runs.Where(r => !r.Ended).Select(r => r.RunId))}");
            }

            await using var connection = await ConnectionMultiplexer.ConnectAsync(_redis);
            foreach (var run in _runs)
            {
                await CheckAsync(run, connection);
            }

            ShowWorkerLogsOfFailedRuns();

            return new SoakReport(_settings, started.Elapsed, [.. _runs], new Dictionary<string, int>(_statuses), _workerKills, _freezes, _redisFaults, [.. _redisRecoveries], _failedStarts);
        }
        finally
        {
            foreach (var worker in _workers)
            {
                if (worker is not null)
                {
                    if (!worker.Process.HasExited)
                    {
                        Signal(worker.Process.Id, "CONT");
                    }

                    await worker.DisposeAsync();
                    Keep(worker);
                }
            }

            if (_settings.LogDirectory is { } directory)
            {
                Directory.CreateDirectory(directory);
                foreach (var (name, output) in _pastOutputs)
                {
                    await File.WriteAllTextAsync(Path.Combine(directory, name + ".log"), output);
                }

                Log($"the Workers' logs: {directory}");
            }
        }
    }

    /// <summary>Keeps a stopped Worker's output: the end check quotes it, and <c>--logs</c> writes it out.</summary>
    private void Keep(WorkerProcess worker)
        => _pastOutputs.Enqueue(($"{worker.Process.Name}-{Interlocked.Increment(ref _workerStarts):000}", worker.Process.Output));

    /// <summary>For the first few runs that failed a check, every Worker log line that names the run.</summary>
    private void ShowWorkerLogsOfFailedRuns()
    {
        var outputs = _pastOutputs.ToList();
        lock (_workersGate)
        {
            outputs.AddRange(_workers.OfType<WorkerProcess>().Select(w => (w.Process.Name + "-live", w.Process.Output)));
        }

        foreach (var run in _runs.Where(r => !r.Ended || r.Terminals != 1 || r.ReaderGap || r.Turns != 1 || !r.AnswerMatches).Take(4))
        {
            Log($"Worker log lines of {run.RunId} (status {run.Status}, attempts {run.Attempts}, turns {run.Turns}):");
            foreach (var (name, output) in outputs)
            {
                var lines = output.Split('\n');
                for (var i = 0; i < lines.Length; i++)
                {
                    if (lines[i].Contains(run.RunId, StringComparison.Ordinal))
                    {
                        // The header line before a message names its level, category and time.
                        Console.WriteLine($"  {name}: {(i > 0 ? lines[i - 1].Trim() + " | " : string.Empty)}{lines[i].Trim()}");
                    }
                }
            }
        }
    }

    private Task<WorkerProcess> StartWorkerAsync(int slot) => WorkerProcess.StartAsync(_redis, _clusterId, $"soak-worker-{slot}", _settings.TokensPerSecond, new Dictionary<string, string?>
    {
        ["AgentApi__RunsPerWindow"] = "0",
        ["AgentApi__RequestsPerWindow"] = "0",
        // The end check reads every run's stream: none may expire before it (the default TTL is 10 minutes).
        ["REDIS_STREAM_TTL_MINUTES"] = ((int)_settings.Duration.TotalMinutes + 60).ToString(CultureInfo.InvariantCulture),
        // The cluster has a replica per primary: writes wait for it, so a primary's kill -9 loses nothing acknowledged.
        ["AgentStreaming__Redis__ReplicaAcks"] = _settings.Cluster ? "1" : "0",
    }, TimeSpan.FromMinutes(3));

    private static async Task EveryAsync(TimeSpan interval, Func<Task> fault, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await fault();
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private async Task KillWorkerAsync()
    {
        var slot = Random.Shared.Next(_workers.Length);
        WorkerProcess? victim;
        lock (_workersGate)
        {
            victim = _workers[slot];
            _workers[slot] = null;
        }

        if (victim is null)
        {
            return;
        }

        await victim.Process.KillAsync();
        await victim.DisposeAsync();
        Keep(victim);
        Interlocked.Increment(ref _workerKills);
        Log($"kill -9 worker {slot}");
        // A Worker that fails to start (it should not: its silo waits for Redis) is reported and tried again, so the
        // soak goes on and its report says what happened.
        for (var tries = 1; ; tries++)
        {
            try
            {
                var replacement = await StartWorkerAsync(slot);
                lock (_workersGate)
                {
                    _workers[slot] = replacement;
                }

                return;
            }
            catch (TimeoutException ex) when (tries < 3)
            {
                Interlocked.Increment(ref _failedStarts);
                Log($"worker {slot} did not start (try {tries}): {ex.Message[..Math.Min(ex.Message.Length, 2000)]}");
            }
        }
    }

    private async Task FreezeWorkerAsync()
    {
        WorkerProcess? victim;
        lock (_workersGate)
        {
            victim = _workers[Random.Shared.Next(_workers.Length)];
        }

        if (victim is null)
        {
            return;
        }

        // The pid is taken once: the kill schedule may kill and replace this Worker while it is frozen.
        var pid = victim.Process.Id;
        Signal(pid, "STOP");
        Interlocked.Increment(ref _freezes);
        Log($"SIGSTOP worker {victim.Process.Name} for 10 s");
        await Task.Delay(TimeSpan.FromSeconds(10));
        Signal(pid, "CONT");
    }

    private async Task RedisFaultAsync(RedisServer? server, RedisCluster? cluster)
    {
        var faultAt = Stopwatch.GetTimestamp();
        if (server is not null)
        {
            Log("redis-server restart (kill -9, start on the same AOF)");
            await server.RestartAsync();
        }
        else
        {
            await using var admin = await ConnectionMultiplexer.ConnectAsync(_redis);
            var primaries = admin.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToList();
            var victim = cluster!.Node(((IPEndPoint)primaries[Random.Shared.Next(primaries.Count)].EndPoint).Port);
            Log($"kill -9 of the primary on port {victim.Port}");
            await victim.KillAsync();
            await WaitUntilHealthyAsync(TimeSpan.FromSeconds(60));
            // Back as a replica of the node that took its slots over.
            await victim.RestartAsync();
        }

        Interlocked.Increment(ref _redisFaults);
        await WaitUntilHealthyAsync(TimeSpan.FromSeconds(60));
        var recovery = Stopwatch.GetElapsedTime(faultAt).TotalSeconds;
        _redisRecoveries.Add(recovery);
        Log($"a Worker healthy again {recovery:0.0} s after the Redis fault");
    }

    private async Task WaitUntilHealthyAsync(TimeSpan timeout)
    {
        var waited = Stopwatch.StartNew();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        while (waited.Elapsed < timeout)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(RandomWorker(), "/health"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }
    }

    private Uri RandomWorker()
    {
        while (true)
        {
            lock (_workersGate)
            {
                var live = _workers.OfType<WorkerProcess>().ToArray();
                if (live.Length > 0)
                {
                    return live[Random.Shared.Next(live.Length)].Url;
                }
            }

            Thread.Sleep(50);
        }
    }

    private async Task ConversationAsync(int index, CancellationToken stop)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        string? conversationId = null;
        var turn = 0;
        while (!stop.IsCancellationRequested)
        {
            turn++;
            var started = await StartRunAsync(http, $"Plan day {turn} of a trip to city {index}", conversationId, stop);
            if (started is null)
            {
                return;
            }

            conversationId = started.Value.ConversationId;
            var run = new RunRecord(started.Value.RunId, conversationId);
            _runs.Add(run);
            await ReadAsync(http, run);
        }
    }

    private async Task<(string RunId, string ConversationId)?> StartRunAsync(HttpClient http, string message, string? conversationId, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var response = await http.PostAsJsonAsync(new Uri(RandomWorker(), $"/agents/{Agent}/runs"), new { message, conversationId }, CancellationToken.None);
                Count("POST runs", response.StatusCode);
                await ShowFailureAsync("POST runs", response);
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    using var view = JsonDocument.Parse(await response.Content.ReadAsStringAsync(CancellationToken.None));
                    return (view.RootElement.GetProperty("runId").GetString()!, view.RootElement.GetProperty("conversationId").GetString()!);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                Count("POST runs", null);
            }

            await Task.Delay(250, CancellationToken.None);
        }

        return null;
    }

    /// <summary>Reads the run's stream to its terminal event, dropping the connection at random and resuming elsewhere.</summary>
    private async Task ReadAsync(HttpClient http, RunRecord run)
    {
        var reading = Stopwatch.StartNew();
        while (!run.Ended && reading.Elapsed < TimeSpan.FromMinutes(5))
        {
            var dropAfter = Random.Shared.NextDouble() < 0.3 ? Random.Shared.Next(3, 60) : int.MaxValue;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(RandomWorker(), $"/agents/{Agent}/runs/{run.RunId}/stream"));
                request.Headers.Accept.ParseAdd("text/event-stream");
                if (run.Events.LastOrDefault() is { } last)
                {
                    request.Headers.Add("Last-Event-ID", last.Id);
                }

                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
                Count("GET stream", response.StatusCode);
                await ShowFailureAsync("GET stream", response);
                if (response.StatusCode == HttpStatusCode.NoContent)
                {
                    run.Ended = true;
                    break;
                }

                if (response.StatusCode != HttpStatusCode.OK)
                {
                    await Task.Delay(250);
                    continue;
                }

                run.Connections++;
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
                var read = 0;
                await foreach (var e in SseEvents(reader, cts.Token))
                {
                    if (e.Id is null)
                    {
                        break; // unavailable / expired: resume elsewhere.
                    }

                    run.Events.Add(e);
                    if (Terminal.Contains(e.Name))
                    {
                        run.Ended = true;
                        break;
                    }

                    if (++read >= dropAfter)
                    {
                        run.Drops++;
                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                Count("GET stream", null);
                await Task.Delay(250);
            }
        }
    }

    private static async IAsyncEnumerable<SseEvent> SseEvents(StreamReader reader, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? id = null;
        string? name = null;
        var data = new StringBuilder();
        var lines = 0;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (name is not null)
                {
                    yield return new SseEvent(id, name, data.ToString());
                }

                (id, name, lines) = (null, null, 0);
                data.Clear();
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal) || line == "data:")
            {
                if (lines++ > 0)
                {
                    data.Append('\n');
                }

                data.Append(line.Length > 6 ? line[6..] : string.Empty);
            }
        }
    }

    /// <summary>The run's stream in Redis against what the reader got, and the conversation's history against the stream.</summary>
    private async Task CheckAsync(RunRecord run, ConnectionMultiplexer connection)
    {
        var entries = await connection.GetDatabase().StreamRangeAsync("agent-stream:" + run.RunId);
        var ids = entries.Select(e => e.Id.ToString()).ToList();
        // Entry ids are "<sequence>-0"; each attempt numbers its entries from the start of its own range (a reset opens
        // the next attempt's range), and a reset trims the earlier attempt's entries from the stream. So the reader must
        // have got every entry still in the stream, in order, each once, and before those a gapless run of sequence
        // numbers from the first entry, broken only where a new attempt's range begins (the abandoned attempt's tail,
        // trimmed, may be skipped: the reset tells the reader to drop it anyway).
        var read = run.Events.Select(e => e.Id!).ToList();
        var from = entries.Length > 0 ? read.IndexOf(ids[0]) : -1;
        run.ReaderGap = entries.Length == 0
            || from < 0
            || !read.Skip(from).SequenceEqual(ids)
            || !OpensAnAttempt(run.Events[0])
            || run.Events.Zip(run.Events.Skip(1)).Any(pair => OpensAnAttempt(pair.Second)
                ? CompareIds(pair.First.Id!, pair.Second.Id!) >= 0
                : SequenceOf(pair.Second.Id!) != SequenceOf(pair.First.Id!) + 1);
        if (run.ReaderGap && Interlocked.Increment(ref _shown) <= 2)
        {
            Log($"gap in {run.RunId}: stream " + string.Join(' ', entries.Select(e => $"{e.Id}:{e["type"]}/{e["attempt"]}/{e["sequence"]}")));
            Log($"gap in {run.RunId}: reader " + string.Join(' ', run.Events.Select(e => $"{e.Id}:{e.Name}")));
        }
        run.Terminals = run.Events.Count(e => Terminal.Contains(e.Name));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        for (var attempt = 0; attempt < 20; attempt++)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(RandomWorker(), $"/agents/{Agent}/conversations/{run.ConversationId}"));
                Count("GET conversation", response.StatusCode);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    await Task.Delay(500);
                    continue;
                }

                using var view = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                var answers = view.RootElement.GetProperty("history").EnumerateArray()
                    .Where(m => m.GetProperty("runId").GetString() == run.RunId && m.GetProperty("role").GetString() == "assistant")
                    .Select(m => m.GetProperty("text").GetString())
                    .ToList();
                var info = view.RootElement.GetProperty("runs").EnumerateArray().FirstOrDefault(r => r.GetProperty("runId").GetString() == run.RunId);
                run.Status = info.ValueKind == JsonValueKind.Object ? info.GetProperty("status").GetString() : "missing";
                run.Attempts = info.ValueKind == JsonValueKind.Object ? info.GetProperty("attempts").GetInt32() : 0;
                run.Turns = answers.Count;
                run.AnswerMatches = answers.Count == 1 && answers[0] == Visible(run.Events);
                if (!run.AnswerMatches && Interlocked.Increment(ref _shownAnswers) <= 1)
                {
                    Log($"answer of {run.RunId}: history [{answers.FirstOrDefault()}]\nstream [{Visible(run.Events)}]");
                }
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                Count("GET conversation", null);
                await Task.Delay(500);
            }
        }
    }

    /// <summary>
    /// The first entry of an attempt's range: its <c>reset</c> (the range's first number), or, where the attempt before
    /// wrote nothing and so needs no reset, its first entry (the range's second number; attempt 1 starts at 1).
    /// </summary>
    private static bool OpensAnAttempt(SseEvent e) => e.Name == "reset" || SequenceOf(e.Id!) % AttemptRange == 1;

    private static long SequenceOf(string id) => long.Parse(id[..id.IndexOf('-')], CultureInfo.InvariantCulture);

    private static int CompareIds(string a, string b)
    {
        static (long, long) Parse(string id) => (long.Parse(id[..id.IndexOf('-')], CultureInfo.InvariantCulture), long.Parse(id[(id.IndexOf('-') + 1)..], CultureInfo.InvariantCulture));
        return Parse(a).CompareTo(Parse(b));
    }

    private static string Visible(IEnumerable<SseEvent> events)
    {
        var text = new StringBuilder();
        foreach (var e in events)
        {
            if (e.Name == "reset")
            {
                text.Clear();
            }
            else if (e.Name == "text")
            {
                text.Append(e.Data);
            }
        }

        return text.ToString();
    }

    /// <summary>A 5xx other than 503, or a 410 (the first few): its body and the Worker's log entry with the same error id.</summary>
    private async Task ShowFailureAsync(string route, HttpResponseMessage response)
    {
        var shown = response.StatusCode == HttpStatusCode.Gone || ((int)response.StatusCode >= 500 && response.StatusCode != HttpStatusCode.ServiceUnavailable);
        if (!shown || Interlocked.Increment(ref _shownFailures) > 8)
        {
            return;
        }

        var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
        Log($"{route} {(int)response.StatusCode}: {body}");
        var errorId = System.Text.RegularExpressions.Regex.Match(body, "[0-9a-f]{16}").Value;
        lock (_workersGate)
        {
            foreach (var worker in _workers)
            {
                var output = worker?.Process.Output ?? string.Empty;
                var at = errorId.Length > 0 ? output.IndexOf(errorId, StringComparison.Ordinal) : -1;
                if (at >= 0)
                {
                    // The entry's header line, the message with the id, and the exception that follows it.
                    var start = output.LastIndexOf('\n', Math.Max(0, output.LastIndexOf('\n', at) - 1)) + 1;
                    Log("the Worker's log: " + output[start..Math.Min(output.Length, at + 3000)]);
                }
            }
        }
    }

    private void Count(string route, HttpStatusCode? status)
        => _statuses.AddOrUpdate($"{route} {(status is { } s ? ((int)s).ToString(CultureInfo.InvariantCulture) : "no answer")}", 1, (_, n) => n + 1);

    private static void Signal(int pid, string signal)
    {
        // A pid that has exited meanwhile: kill reports it on stderr, and nothing else happens.
        using var kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {pid}") { RedirectStandardError = true });
        kill?.WaitForExit();
    }

    private static void Log(string message) => Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {message}");
}

/// <summary>One server-sent event.</summary>
internal sealed record SseEvent(string? Id, string Name, string Data);

/// <summary>One accepted run, what its reader got, and what the checks found.</summary>
internal sealed class RunRecord(string runId, string conversationId)
{
    public string RunId { get; } = runId;

    public string ConversationId { get; } = conversationId;

    public List<SseEvent> Events { get; } = [];

    public bool Ended { get; set; }

    public int Connections { get; set; }

    public int Drops { get; set; }

    public bool ReaderGap { get; set; }

    public int Terminals { get; set; }

    public string? Status { get; set; }

    public int Attempts { get; set; }

    public int Turns { get; set; }

    public bool AnswerMatches { get; set; }
}

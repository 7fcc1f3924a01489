using System.Globalization;
using System.Text;

namespace AgentStreaming.Chaos.Soak;

/// <summary>What the soak found: every accepted run ended once, readers without gaps, turns once, no 500.</summary>
internal sealed record SoakReport(
    SoakSettings Settings,
    TimeSpan Elapsed,
    IReadOnlyList<RunRecord> Runs,
    IReadOnlyDictionary<string, int> Statuses,
    int WorkerKills,
    int Freezes,
    int RedisFaults,
    IReadOnlyList<double> RedisRecoveries,
    int FailedWorkerStarts)
{
    public int Lost => Runs.Count(r => !r.Ended || r.Terminals == 0);

    public int DuplicateTerminals => Runs.Count(r => r.Terminals > 1);

    public int ReaderGaps => Runs.Count(r => r.ReaderGap);

    public int DuplicatedTurns => Runs.Count(r => r.Turns > 1);

    public int MissingTurns => Runs.Count(r => r.Status == "completed" && r.Turns == 0);

    public int AnswerMismatches => Runs.Count(r => r.Status == "completed" && r.Turns == 1 && !r.AnswerMatches);

    public int ServerErrors => Statuses.Where(s => s.Key.EndsWith(" 500", StringComparison.Ordinal)).Sum(s => s.Value);

    public bool Passed => Runs.Count > 0 && FailedWorkerStarts == 0 && Lost == 0 && DuplicateTerminals == 0 && ReaderGaps == 0 && DuplicatedTurns == 0
        && MissingTurns == 0 && AnswerMismatches == 0 && ServerErrors == 0;

    public override string ToString()
    {
        var text = new StringBuilder();
        var redis = Settings.Cluster ? "Redis Cluster (3 primaries + 3 replicas)" : "redis-server (AOF, appendfsync always)";
        text.AppendLine(CultureInfo.InvariantCulture, $"soak: {Elapsed.TotalMinutes:0.0} min, {Settings.Workers} Workers, {redis}, {Settings.Conversations} conversations");
        text.AppendLine(CultureInfo.InvariantCulture, $"faults: {WorkerKills} Worker kill -9 (restarted), {Freezes} Worker SIGSTOP 10 s, {RedisFaults} {(Settings.Cluster ? "primary kill -9 (failover)" : "Redis restarts")}");
        text.AppendLine(CultureInfo.InvariantCulture, $"Worker restarts that failed: {FailedWorkerStarts}");
        if (RedisRecoveries.Count > 0)
        {
            var sorted = RedisRecoveries.Order().ToList();
            text.AppendLine(CultureInfo.InvariantCulture, $"Redis fault → a Worker healthy: median {sorted[sorted.Count / 2]:0.0} s, max {sorted[^1]:0.0} s");
        }

        var status = Runs.GroupBy(r => r.Status ?? "unknown").Select(g => $"{g.Key} {g.Count()}");
        text.AppendLine(CultureInfo.InvariantCulture, $"runs accepted: {Runs.Count} ({string.Join(", ", status)})");
        text.AppendLine(CultureInfo.InvariantCulture, $"lost runs (no terminal entry): {Lost}; more than one terminal entry: {DuplicateTerminals}");
        text.AppendLine(CultureInfo.InvariantCulture, $"reader gaps or duplicates (entries read ≠ the stream): {ReaderGaps}; reader connections: {Runs.Sum(r => r.Connections)}, dropped on purpose: {Runs.Sum(r => r.Drops)}");
        text.AppendLine(CultureInfo.InvariantCulture, $"turns: duplicated {DuplicatedTurns}, missing {MissingTurns}, answer ≠ stream's final text {AnswerMismatches}");
        text.AppendLine(CultureInfo.InvariantCulture, $"attempts histogram (model calls paid per run): {string.Join(", ", Runs.GroupBy(r => r.Attempts).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"))}");
        text.AppendLine("answers by route: " + string.Join(", ", Statuses.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key} ×{s.Value}")));
        text.AppendLine(CultureInfo.InvariantCulture, $"5xx: 500 ×{ServerErrors} (503 with Retry-After is the API's answer while Redis or the workers are unreachable)");
        text.Append(Passed ? "PASSED" : "FAILED");
        return text.ToString();
    }
}

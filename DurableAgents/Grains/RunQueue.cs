namespace AgentStreaming.DurableAgents.Grains;

/// <summary>
/// The runs of a conversation that have not ended, in order of acceptance (the grain's persisted state): what
/// executes next, and where a cancellation that arrives during an attempt is kept. A run leaves the queue when its
/// turn is recorded in the history.
/// </summary>
internal sealed class RunQueue
{
    private readonly List<RunInfo> _runs;
    private readonly Dictionary<string, RunInfo> _ending = new(StringComparer.Ordinal);

    /// <param name="runs">The persisted list this queue works on.</param>
    public RunQueue(List<RunInfo> runs) => _runs = runs;

    /// <summary>Whether any run is waiting or running.</summary>
    public bool HasUnfinished => _runs.Exists(r => !r.Status.IsFinal());

    /// <summary>The runs, oldest first.</summary>
    public IReadOnlyList<RunInfo> Runs => _runs;

    /// <summary>A queued or running run, or <see langword="null"/>.</summary>
    public RunInfo? Find(string runId) => _runs.Find(r => r.RunId == runId);

    /// <summary>The run to execute next: the oldest that has not ended and is not being ended.</summary>
    public RunInfo? Next() => _runs.Find(r => !r.Status.IsFinal() && !_ending.ContainsKey(r.RunId));

    /// <summary>A run being ended, as it will be recorded (with its final status), or <see langword="null"/>.</summary>
    public RunInfo? Ending(string runId) => _ending.GetValueOrDefault(runId);

    /// <summary>
    /// Marks a run as being ended (its turn is being recorded), in memory only: <see cref="Next"/> skips it, while a
    /// state write meanwhile still persists it as not ended, so a crash before its turn is recorded re-drives it
    /// rather than leaving it ended without a turn or a terminal entry.
    /// </summary>
    /// <returns>The run, with a cancellation requested meanwhile.</returns>
    public RunInfo MarkEnding(RunInfo run)
    {
        run = Find(run.RunId) is { CancelRequested: true } ? run with { CancelRequested = true } : run;
        _ending[run.RunId] = run;
        return run;
    }

    /// <summary>Adds an accepted run at the end.</summary>
    public void Enqueue(RunInfo run) => _runs.Add(run);

    /// <summary>
    /// Stores a new version of a run, keeping a cancellation requested meanwhile (the caller's copy may predate it).
    /// </summary>
    /// <returns>The stored version.</returns>
    public RunInfo Update(RunInfo run)
    {
        var index = _runs.FindIndex(r => r.RunId == run.RunId);
        if (index < 0)
        {
            return run;
        }

        run = run with { CancelRequested = run.CancelRequested || _runs[index].CancelRequested };
        _runs[index] = run;
        return run;
    }

    /// <summary>Marks a run's cancellation as requested.</summary>
    /// <returns>The stored version, or <see langword="null"/> when the run is not in the queue.</returns>
    public RunInfo? RequestCancel(string runId)
    {
        var index = _runs.FindIndex(r => r.RunId == runId);
        if (index < 0)
        {
            return null;
        }

        _runs[index] = _runs[index] with { CancelRequested = true };
        return _runs[index];
    }

    /// <summary>Takes a run out of the queue (its turn has been recorded).</summary>
    /// <returns>Whether it was there.</returns>
    public bool Remove(string runId)
    {
        _ending.Remove(runId);
        return _runs.RemoveAll(r => r.RunId == runId) > 0;
    }
}

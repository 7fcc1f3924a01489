using System.Diagnostics;

namespace AgentStreaming.Benchmarks;

/// <summary>The writing side of one capacity step: appends the next chunk of a run when the pacer says it is due.</summary>
internal interface ICapacityWriters
{
    /// <summary>Appends the run's next chunk; <see langword="false"/> when its previous write is still in flight (the tick is skipped).</summary>
    bool TryAppend(int run);
}

/// <summary>
/// Offers one chunk per run per period to a slice of the runs, from one loop on a thread of its own: the period is
/// cut into 1 ms slots, each run owns one slot (so a slice's appends are spread over the period), and every wake-up
/// appends the runs of all slots that fell due since the last one: after a stall (a GC pause, the CPU taken by other
/// work) the due chunks go out late, in a burst, as a model's tokens would, so the offered rate holds. A slot later
/// than <see cref="CatchUpPeriods"/> periods is dropped and counted; how late each slot ran is recorded, so a step
/// whose load was not offered on time is visible as such. Chunks are stamped when appended, not when due.
/// </summary>
/// <remarks>
/// One pacer per core replaces a <c>Task.Delay</c> loop per run, whose timers and wake-ups at 5,000 runs would cost
/// the client more than the code under test. A dedicated thread rather than a <see cref="PeriodicTimer"/> because a
/// timer's continuation waits in the thread-pool queue behind the work of the code under test (measured: up to
/// 20 ms at 1,000 runs), which made the offered load depend on what was being measured. Counters are written by the
/// pacer's loop only and read when it stopped (or, approximately, while it runs).
/// </remarks>
internal sealed class CapacityPacer
{
    /// <summary>How many periods late a slot may run and still be appended.</summary>
    public const int CatchUpPeriods = 5;

    private static readonly TimeSpan s_slot = TimeSpan.FromMilliseconds(1);
    private readonly int[][] _slots;
    private readonly long _slotTicks;
    private readonly long _periodTicks;
    private readonly long _start;
    private readonly ICapacityWriters _writers;
    private readonly Func<bool> _measuring;
    private long _offered;
    private long _appended;
    private long _skippedBusy;
    private long _skippedLate;

    /// <param name="runs">The runs this pacer drives.</param>
    /// <param name="period">One chunk per run per period (20 ms for 50 chunks/s).</param>
    /// <param name="start">Stopwatch timestamp of slot 0.</param>
    /// <param name="writers">The side under test.</param>
    /// <param name="lag">Receives how late each slot ran, in ms, over the measured window (may be shared by the pacers).</param>
    /// <param name="measuring">Whether the measured window is open (counters and lag count only then).</param>
    public CapacityPacer(IReadOnlyList<int> runs, TimeSpan period, long start, ICapacityWriters writers, LatencyHistogram lag, Func<bool> measuring)
    {
        var slots = Math.Max(1, (int)(period / s_slot));
        _periodTicks = (long)(period.TotalSeconds * Stopwatch.Frequency);
        _slotTicks = _periodTicks / slots;
        _slots = new int[slots][];
        for (var s = 0; s < slots; s++)
        {
            var from = runs.Count * s / slots;
            var to = runs.Count * (s + 1) / slots;
            _slots[s] = [.. runs.Skip(from).Take(to - from)];
        }

        _start = start;
        _writers = writers;
        Lag = lag;
        _measuring = measuring;
    }

    /// <summary>How late slots ran, in ms, over the measured window (one sample per slot).</summary>
    public LatencyHistogram Lag { get; }

    /// <summary>Chunks due in the measured window (the target: runs × rate × time).</summary>
    public long Offered => Volatile.Read(ref _offered);

    /// <summary>Chunks appended in the measured window.</summary>
    public long Appended => Volatile.Read(ref _appended);

    /// <summary>Due chunks not appended because the run's previous write was still in flight.</summary>
    public long SkippedBusy => Volatile.Read(ref _skippedBusy);

    /// <summary>Due chunks not appended because the pacer reached their slot more than <see cref="CatchUpPeriods"/> periods late.</summary>
    public long SkippedLate => Volatile.Read(ref _skippedLate);

    /// <summary>Runs the pacer on a thread of its own until <paramref name="stop"/> is cancelled.</summary>
    /// <returns>A task that completes when the thread has ended.</returns>
    public Task StartAsync(string name, CancellationToken stop)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Run(stop);
                ended.SetResult();
            }
            catch (Exception e)
            {
                ended.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return ended.Task;
    }

    private void Run(CancellationToken stop)
    {
        long next = 0;
        while (!stop.IsCancellationRequested)
        {
            var due = (Stopwatch.GetTimestamp() - _start) / _slotTicks;
            for (; next <= due; next++)
            {
                var runs = _slots[next % _slots.Length];
                var lag = Stopwatch.GetTimestamp() - (_start + (next * _slotTicks));
                var measuring = _measuring();
                if (measuring)
                {
                    _offered += runs.Length;
                }

                if (lag > CatchUpPeriods * _periodTicks)
                {
                    if (measuring)
                    {
                        _skippedLate += runs.Length;
                    }

                    continue;
                }

                if (measuring)
                {
                    Lag.Record(lag * 1000.0 / Stopwatch.Frequency);
                }

                foreach (var run in runs)
                {
                    var appended = _writers.TryAppend(run);
                    if (measuring)
                    {
                        if (appended)
                        {
                            _appended++;
                        }
                        else
                        {
                            _skippedBusy++;
                        }
                    }
                }
            }

            // Sleep until the next slot is due, in whole milliseconds (a late wake-up is caught up above). Rounded up: a
            // sleep of under 1 ms is Thread.Sleep(0), a yield, which made the pacers spin and burn a core of the two
            // the code under test and Redis share.
            var untilNext = (_start + (next * _slotTicks)) - Stopwatch.GetTimestamp();
            if (untilNext > 0)
            {
                Thread.Sleep(Math.Max(1, (int)Math.Ceiling(untilNext * 1000.0 / Stopwatch.Frequency)));
            }
        }
    }
}

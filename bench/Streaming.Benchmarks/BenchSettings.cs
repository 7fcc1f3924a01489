namespace AgentStreaming.Benchmarks;

/// <summary>Sizes of one benchmark run: <c>--quick</c> for a smoke run, the default for the published numbers.</summary>
internal sealed record BenchSettings(
    string Name,
    int Repetitions,
    int OursChunksOneStream,
    int ReferenceChunksOneStream,
    int ManyWriteStreams,
    int OursChunksPerStreamMany,
    int ReferenceChunksPerStreamMany,
    int ChunksPerSecond,
    int ManyLatencyStreams,
    TimeSpan LatencyDurationOneStream,
    TimeSpan OursLatencyDurationMany,
    TimeSpan ReferenceLatencyDurationMany,
    int ResumeStreamLength,
    int ResumeRepetitions)
{
    public static BenchSettings Full { get; } = new(
        Name: "full",
        Repetitions: 3,
        OursChunksOneStream: 200_000,
        ReferenceChunksOneStream: 10_000,
        ManyWriteStreams: 100,
        OursChunksPerStreamMany: 5_000,
        ReferenceChunksPerStreamMany: 500,
        ChunksPerSecond: 50,
        ManyLatencyStreams: 1_000,
        LatencyDurationOneStream: TimeSpan.FromSeconds(20),
        OursLatencyDurationMany: TimeSpan.FromSeconds(20),
        ReferenceLatencyDurationMany: TimeSpan.FromSeconds(10),
        ResumeStreamLength: 10_000,
        ResumeRepetitions: 200);

    public static BenchSettings Quick { get; } = new(
        Name: "quick",
        Repetitions: 1,
        OursChunksOneStream: 20_000,
        ReferenceChunksOneStream: 2_000,
        ManyWriteStreams: 100,
        OursChunksPerStreamMany: 500,
        ReferenceChunksPerStreamMany: 50,
        ChunksPerSecond: 50,
        ManyLatencyStreams: 1_000,
        LatencyDurationOneStream: TimeSpan.FromSeconds(5),
        OursLatencyDurationMany: TimeSpan.FromSeconds(5),
        ReferenceLatencyDurationMany: TimeSpan.FromSeconds(3),
        ResumeStreamLength: 10_000,
        ResumeRepetitions: 50);
}

/// <summary>Sizes of the capacity scenario (<c>--only capacity</c>): the steps of concurrent runs and how long each is measured.</summary>
/// <param name="Steps">Concurrent runs per step.</param>
/// <param name="Measured">Measured time per step (the issue asks for at least 20 s).</param>
/// <param name="Warmup">Time per step with every run writing and read, before the measured window (not measured).</param>
/// <param name="Ours">Measure our writer and reader.</param>
/// <param name="Reference">Measure the original sample's algorithm.</param>
/// <param name="Floor">Measure the floor: plain pipelined XADDs, no fencing, metadata or announcements.</param>
/// <param name="Node">Measure Vercel's resumable-stream in a Node process (bench/node-resumable-stream).</param>
/// <param name="FindCapacity">After the steps, bisect between the largest step that held and the next that did not.</param>
/// <param name="Pacers">Pacer loops, each driving a slice of the runs (default one per core).</param>
internal sealed record CapacitySettings(
    IReadOnlyList<int> Steps,
    TimeSpan Measured,
    TimeSpan Warmup,
    bool Ours,
    bool Reference,
    bool Floor,
    bool Node,
    bool FindCapacity,
    int Pacers)
{
    public static IReadOnlyList<int> DefaultSteps { get; } = [1_000, 2_000, 3_000, 5_000];

    /// <summary>Chunks per second each run writes.</summary>
    public int ChunksPerSecond { get; init; } = 50;

    /// <summary>A step holds when delivery p99 is at most this, nothing is lost or out of order, and the offered rate was delivered.</summary>
    public double P99TargetMs { get; init; } = 10.0;

    /// <summary>Share of the offered chunks (runs × rate × time) a step must deliver in its window to hold.</summary>
    public double DeliveredShareTarget { get; init; } = 0.99;

    /// <summary>Granularity of <see cref="FindCapacity"/>, in runs.</summary>
    public int Granularity { get; init; } = 500;

    /// <summary>A side whose window delivered less than this share of the offered chunks after <see cref="MinimumMeasured"/> is cut there.</summary>
    public double HopelessShare { get; init; } = 0.5;

    /// <summary>A side whose latency p50 so far is above this after <see cref="MinimumMeasured"/> is cut there.</summary>
    public TimeSpan HopelessLatency { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The shortest measured time before a hopeless step may be cut.</summary>
    public TimeSpan MinimumMeasured { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the end of a step waits for writers to flush and readers to reach the terminal entry.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

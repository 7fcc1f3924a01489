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

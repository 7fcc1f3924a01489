using System.Diagnostics;
using System.Globalization;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.DurableAgents.Benchmarks;

/// <summary>
/// A Redis blip under a live run: a writer appends an entry every 20 ms and a live reader follows; Redis is stopped
/// (<c>SHUTDOWN</c>, AOF on) for <c>outage</c> and started again. Measured: from Redis answering again to the reader's
/// next entry, and the whole gap the reader saw; checked: same attempt, no reset, no hole in the sequence.
/// </summary>
internal static class BlipScenario
{
    public static async Task RunAsync(TimeSpan outage, int repeats, TextWriter log)
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: true);
        var services = new ServiceCollection()
            .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
            .AddRedisAgentStreaming(o => o.ConnectionString = redis.ConnectionString).Services
            .BuildServiceProvider();
        await using var _ = services;
        var handler = services.GetRequiredService<RedisStreamResponseHandler>();
        var backToEntry = new List<double>();
        var gaps = new List<double>();
        for (var r = 0; r < repeats; r++)
        {
            await log.WriteLineAsync($"blip {r + 1}/{repeats}: Redis down for {outage.TotalSeconds:0} s under a live run");
            var runId = RunIds.New();
            var writer = handler.CreateWriter(runId, attempt: 1);
            await writer.BeginAsync();
            using var stop = new CancellationTokenSource();
            var writing = Task.Run(async () =>
            {
                var i = 0;
                while (!stop.IsCancellationRequested)
                {
                    await writer.AppendAsync(AgentStreamEntry.ForText($"chunk {i++} "));
                    await Task.Delay(20);
                }

                await writer.CompleteAsync(AgentStreamEntry.ForDone());
            });
            var received = new List<(long Sequence, long At, StreamEntryKind Kind, int Attempt)>();
            var reading = Task.Run(async () =>
            {
                await foreach (var chunk in handler.ReadStreamAsync(runId))
                {
                    lock (received)
                    {
                        received.Add((chunk.Sequence, Stopwatch.GetTimestamp(), chunk.Kind, chunk.Attempt));
                    }
                }
            });
            await WaitForAsync(() => Count(received) >= 25);
            var down = Stopwatch.GetTimestamp();
            await redis.StopAsync();
            var outageClock = Stopwatch.StartNew();
            while (outageClock.Elapsed < outage)
            {
                await Task.Delay(50);
            }

            await redis.RestartAsync();
            var up = Stopwatch.GetTimestamp();
            await WaitForAsync(() => { lock (received) { return received.Exists(e => e.At > up); } });
            (long Sequence, long At, StreamEntryKind Kind, int Attempt) next;
            lock (received)
            {
                next = received.First(e => e.At > up);
                var before = received.Last(e => e.At <= down);
                gaps.Add(Stopwatch.GetElapsedTime(before.At, next.At).TotalMilliseconds);
            }

            backToEntry.Add(Stopwatch.GetElapsedTime(up, next.At).TotalMilliseconds);
            await stop.CancelAsync();
            await writing;
            await reading.WaitAsync(TimeSpan.FromSeconds(30));
            lock (received)
            {
                if (received.Any(e => e.Kind == StreamEntryKind.Reset || e.Attempt != 1)
                    || received.Select((e, i) => e.Sequence != i).Any(b => b)
                    || received[^1].Kind != StreamEntryKind.Done)
                {
                    throw new InvalidOperationException("The blip left a reset, another attempt, a hole or no done entry in the stream.");
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Redis blip ({outage.TotalSeconds:0} s outage under a live run, {repeats} times; writer: one entry every 20 ms, WriteRetryTimeout default):"));
        Console.WriteLine();
        Console.WriteLine("| measure | median | min | max |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        Row("Redis answering again → the reader's next entry", backToEntry);
        Row("the gap the reader saw (last entry before the stop → next entry)", gaps);
        Console.WriteLine("Every run: attempt 1 throughout, no reset, sequences without a hole, one done.");

        static void Row(string name, List<double> values)
        {
            var sorted = values.Order().ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {sorted[sorted.Count / 2]:0} ms | {sorted[0]:0} ms | {sorted[^1]:0} ms |"));
        }
    }

    private static int Count<T>(List<T> list)
    {
        lock (list)
        {
            return list.Count;
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 30;
        while (!condition())
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException("The blip scenario did not progress within 30 s.");
            }

            await Task.Delay(5);
        }
    }
}

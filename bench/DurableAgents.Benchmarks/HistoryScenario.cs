using System.Diagnostics;
using System.Globalization;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Testing;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Benchmarks;

/// <summary>
/// One long conversation, turn after turn: accept latency, bytes the Worker sent to Redis for the turn
/// (<c>INFO stats</c> <c>total_net_input_bytes</c>, accept to <c>done</c>), and the size of the conversation's grain
/// state entry (<c>MEMORY USAGE</c>), compared between the first and the last turns. With history in the grain state
/// all three grow with the conversation; with the history log they stay flat.
/// </summary>
internal static class HistoryScenario
{
    public static async Task RunAsync(RedisServer redis, DurableAgentClient client, string agentName, string prompt, int turns, TextWriter log)
    {
        var agent = client.GetAgent(agentName);
        var session = agent.NewSession();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",allowAdmin=true");
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        var accept = new double[turns];
        var bytesIn = new long[turns];
        var stateBytes = new long[turns];
        RedisKey? stateKey = null;
        await log.WriteLineAsync($"long conversation: {turns} turns, one at a time");
        for (var i = 0; i < turns; i++)
        {
            var before = await NetInputBytesAsync(server);
            var t0 = Stopwatch.GetTimestamp();
            var run = await agent.StartRunAsync($"{prompt} (turn {i + 1})", session);
            accept[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await foreach (var chunk in client.StreamAsync(run.RunId, cancellationToken: cts.Token))
            {
                if (chunk.IsTerminal && chunk.Kind != DurableRunChunkKind.Done)
                {
                    throw new InvalidOperationException($"Run {run.RunId} ended with {chunk.Kind}: {chunk.Error}");
                }
            }

            // The answer is in Redis before `done`; the run leaves the grain's queue right after. Wait for that write.
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 10;
            while ((await agent.GetConversationAsync(session)).Runs.Any(r => !r.Status.IsFinal()) && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Yield();
            }

            bytesIn[i] = await NetInputBytesAsync(server) - before;
            stateKey ??= await FindStateKeyAsync(server, session.ConversationId);
            stateBytes[i] = stateKey is { } key ? (long)await connection.GetDatabase().ExecuteAsync("MEMORY", "USAGE", key, "SAMPLES", "0") : -1;
        }

        var window = Math.Min(20, Math.Max(1, turns / 4));
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Long conversation ({turns} turns of the demo prompt, one at a time; windows of {window} turns):"));
        Console.WriteLine();
        Console.WriteLine("| turns | accept p50 | accept max | bytes to Redis per turn (mean) | grain state entry (last turn) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        Row(0, window);
        Row(turns - window, turns);

        void Row(int from, int to)
        {
            var a = accept[from..to].Order().ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {from + 1}–{to} | {a[a.Length / 2]:0.00} ms | {a[^1]:0.00} ms | {bytesIn[from..to].Average() / 1024.0:0.0} KiB | {stateBytes[to - 1] / 1024.0:0.0} KiB |"));
        }
    }

    private static async Task<long> NetInputBytesAsync(IServer server)
    {
        var info = await server.InfoAsync("stats");
        var value = info.SelectMany(g => g).First(p => p.Key == "total_net_input_bytes").Value;
        return long.Parse(value, CultureInfo.InvariantCulture);
    }

    private static async Task<RedisKey?> FindStateKeyAsync(IServer server, string conversationId)
    {
        await foreach (var key in server.KeysAsync(pattern: "*" + conversationId + "*"))
        {
            var name = key.ToString();
            if (!name.StartsWith("durable-agents:", StringComparison.Ordinal) && !name.StartsWith("agent-", StringComparison.Ordinal))
            {
                return key;
            }
        }

        return null;
    }
}

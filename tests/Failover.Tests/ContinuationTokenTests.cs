using System.Text.Json;
using AgentStreaming.DurableAgents;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace AgentStreaming.Failover.Tests;

/// <summary>
/// Continuation tokens across processes: taken in this process from a run on Worker processes, resumed by another
/// process (the ResumeReader, a separate executable that gets only the token's bytes), and resumed across a
/// <c>kill -9</c> of the Worker running the run, where the resumed stream shows the reset.
/// </summary>
public sealed class ContinuationTokenTests(AppendOnlyRedisServerFixture redis, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task ATokenTakenInOneProcess_IsResumedByAnotherProcess_RightAfterItsEntry()
    {
        await using var cluster = await WorkerCluster.StartAsync(redis.Server, workers: 1, tokensPerSecond: 60);
        AIAgent agent = cluster.Client.GetAgent("TravelPlanner");
        var session = await agent.CreateSessionAsync();
        var takeAt = Random.Shared.Next(1, 15);
        output.WriteLine($"token taken at update {takeAt}");

        var before = await ReadAsync(agent.RunStreamingAsync("Plan a 2-day trip to Ghent", session, Background()), stopAfter: takeAt + 1);
        var token = before[^1].ContinuationToken!;
        await using var reader = ServiceProcess.StartDotnet("resume-reader", RepoPaths.ProjectOutput(Path.Combine("tests", "ResumeReader"), "AgentStreaming.ResumeReader.dll"),
            ["--redis", redis.Server.ConnectionString, "--cluster-id", cluster.ClusterId, "--agent", "TravelPlanner", "--token", Convert.ToBase64String(token.ToBytes().Span)]);
        Assert.True(await reader.WaitForExitAsync(Deadline) == 0, reader.Output);
        var resumed = reader.Output.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var final = await agent.RunAsync(session, Background(token));

        // No gap, no duplicate: the other process's first entry is the one after the token's.
        Assert.Equal(
            Enumerable.Range(1, before.Count + resumed.Count).Select(i => (long)i),
            before.Select(u => Entry(u).Sequence).Concat(resumed.Select(e => e.GetProperty("sequence").GetInt64())));
        Assert.Equal("stop", resumed[^1].GetProperty("finish").GetString());
        Assert.Equal(JsonValueKind.Null, resumed[^1].GetProperty("token").ValueKind);
        Assert.All(resumed[..^1], e => Assert.Equal(JsonValueKind.String, e.GetProperty("token").ValueKind));
        Assert.Equal(final.Text, string.Concat(before.Select(u => u.Text)) + string.Concat(resumed.Select(e => e.GetProperty("text").GetString())));
        Assert.Contains("Ghent", final.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATokenTakenBeforeAWorkerKill_ResumesThroughTheReset_ToTheSecondAttemptsAnswer()
    {
        await using var cluster = await WorkerCluster.StartAsync(redis.Server);
        var agent = cluster.Client.GetAgent("TravelPlanner");
        var session = agent.NewSession();

        // Read attempt 1 for a while, keep the token, lose the connection, then kill the Worker running the run.
        var before = await ReadAsync(agent.RunStreamingAsync("Plan a 3-day trip to Lisbon with food and museums", session, Background()), stopAfter: 10);
        var token = before[^1].ContinuationToken!;
        var runId = before[0].ResponseId!;
        await cluster.WorkerHosting((await agent.GetConversationAsync(session)).HostedBy!).KillAsync();
        var after = await ReadAsync(agent.RunStreamingAsync(session, Background(token)));

        var reset = after.FindIndex(u => u.Contents.OfType<DurableRunResetContent>().Any());
        Assert.True(reset >= 0, "The resumed stream has no reset.");
        Assert.Equal(2, after[reset].Contents.OfType<DurableRunResetContent>().Single().Attempt);
        Assert.DoesNotContain(after[reset].Contents, c => c is not DurableRunResetContent);
        Assert.All(before.Concat(after.Take(reset)), u => Assert.Equal(1, Entry(u).Attempt));
        Assert.All(after.Skip(reset), u => Assert.Equal((2, runId + "/2"), (Entry(u).Attempt, u.MessageId)));
        // Nothing is repeated, and nothing is skipped but what the reset trims (the abandoned attempt's entries).
        var last = Entry(before[^1]).Sequence;
        Assert.True(reset == 0 ? Entry(after[0]).Sequence > last : Entry(after[0]).Sequence == last + 1, $"Resumed at sequence {Entry(after[0]).Sequence} after {last}.");
        var fromReset = after.Skip(reset).Select(u => Entry(u).Sequence).ToList();
        Assert.Equal(Enumerable.Range(0, fromReset.Count).Select(i => fromReset[0] + i), fromReset);
        Assert.Equal(ChatFinishReason.Stop, after[^1].FinishReason);
        // What a reader shows — the text after the last reset — is the run's final answer.
        var visible = string.Concat(after.Skip(reset + 1).Select(u => u.Text));
        var final = await agent.RunAsync(session, Background(token));
        Assert.Equal(final.Text, visible);
        Assert.Contains("Lisbon", final.Text, StringComparison.Ordinal);
        var run = await agent.GetRunAsync(session, runId);
        Assert.Equal((RunStatus.Completed, 2), (run!.Status, run.Attempts));
    }

    private static AgentRunOptions Background(ResponseContinuationToken? token = null) => new() { AllowBackgroundResponses = true, ContinuationToken = token };

    private static DurableRunChunk Entry(AgentResponseUpdate update) => Assert.IsType<DurableRunChunk>(update.RawRepresentation);

    private static async Task<List<AgentResponseUpdate>> ReadAsync(IAsyncEnumerable<AgentResponseUpdate> updates, int? stopAfter = null)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        var read = new List<AgentResponseUpdate>();
        await foreach (var update in updates.WithCancellation(deadline.Token))
        {
            read.Add(update);
            if (read.Count == stopAfter)
            {
                break;
            }
        }

        return read;
    }
}

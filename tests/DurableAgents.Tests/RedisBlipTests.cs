using System.Diagnostics;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>A short Redis outage during a run: the generation goes on as the same attempt (no reset, no second model call).</summary>
public sealed class RedisBlipTests
{
    [Fact]
    public async Task RedisDownForSevenSecondsMidRun_TheRunFinishesAsAttemptOne_WithNoResetAndOneModelCall()
    {
        // Its own server: the assembly's shared one must stay up for the other tests.
        await using var server = await RedisServer.StartAsync(appendOnly: true);
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outage = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var model = new ScriptedChatClient { Answer = _ => ["Day ", "one, ", "day ", "two, ", "day ", "three."], FreeTokens = 2 };
        model.BeforeToken = async (i, ct) =>
        {
            if (i == 2)
            {
                reached.TrySetResult();
                await outage.Task.WaitAsync(ct);
            }
        };
        await using var cluster = await OrleansCluster.StartAsync(server, model);
        var agent = cluster.Client.GetAgent("TestAgent");
        var session = agent.NewSession();
        var run = await agent.StartRunAsync("plan", session);
        await reached.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await server.StopAsync();
        // The rest of the answer is produced while Redis is gone; the outage lasts 7 s, longer than the multiplexer holds commands for a reconnect (5 s), so writes fail and are retried.
        outage.SetResult();
        var down = Stopwatch.StartNew();
        while (down.Elapsed < TimeSpan.FromSeconds(7))
        {
            await Task.Delay(100);
        }

        await server.RestartAsync();

        var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, run.RunId);
        Assert.Equal("Day one, day two, day three.", ConversationGrainTests.Text(chunks));
        Assert.DoesNotContain(chunks, c => c.Kind == DurableRunChunkKind.Reset);
        Assert.All(chunks, c => Assert.Equal(1, c.Attempt));
        Assert.Equal(DurableRunChunkKind.Done, Assert.Single(chunks, c => c.IsTerminal).Kind);
        Assert.Equal(Enumerable.Range(1, chunks.Count).Select(i => (long)i), chunks.Select(c => c.Sequence));
        Assert.Single(model.Calls);
        var ended = await agent.GetRunAsync(session, run.RunId);
        Assert.Equal(RunStatus.Completed, ended!.Status);
        Assert.Equal(1, ended.Attempts);
    }
}

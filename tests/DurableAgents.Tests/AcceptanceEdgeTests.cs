using System.Diagnostics;
using AgentStreaming.DurableAgents.Client;
using AgentStreaming.DurableAgents.Recovery;
using AgentStreaming.Streaming.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>
/// Runs accepted at the edges of a conversation's processing loop: while the loop drops its claim (nothing left to
/// run), and while Redis refuses the acceptance's writes.
/// </summary>
public sealed class AcceptanceEdgeTests(AppendOnlyRedisServerFixture redis)
{
    [Fact]
    public async Task ARunAcceptedWhileTheLoopDropsTheConversationsClaim_Runs_AndItsClaimIsHeldWhileItRuns()
    {
        HeldReleaseLeaseStore? store = null;
        var model = new ScriptedChatClient();
        await using var test = await TestConversation.StartAsync(redis.Server, model, services => services.AddSingleton<RunLeaseStore>(provider => store = new HeldReleaseLeaseStore(
            provider.GetRequiredService<IConnectionMultiplexer>(),
            provider.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId,
            provider.GetRequiredService<TimeProvider>())));
        var (cluster, agent, session) = test;

        Assert.Equal("Answer to: first", (await agent.RunAsync("first", session)).Text);
        // The loop found nothing more to run and is dropping the claim; its ZREM reaches Redis only when released, after
        // the next run's claim (the order two connections, or two cluster nodes, can give).
        await store!.Releasing.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var gate = model.HoldTokens();
        var second = await agent.StartRunAsync("second", session);
        store.Release.SetResult();

        var key = session.ToString();
        await Poll.UntilAsync(async () => await store.ExpiryOfAsync(key) is not null, TimeSpan.FromSeconds(15), () => "the second run's conversation has no claim, so no worker would re-drive it after a crash");
        gate.SetResult();
        var chunks = await ConversationGrainTests.ReadAllAsync(cluster.Client, second.RunId);
        Assert.Equal("Answer to: second", ConversationGrainTests.Text(chunks));
        Assert.Equal(DurableRunChunkKind.Done, chunks[^1].Kind);
        await Poll.UntilAsync(async () => await store.ExpiryOfAsync(key) is null, TimeSpan.FromSeconds(15), () => "the claim outlived the conversation's last run");
    }

    [Fact]
    public async Task RedisBusyWhileARunIsAccepted_TheCallerHearsUnavailable_AndTheRunIsNeitherStoredNorRun()
    {
        // Its own server: a script that holds Redis blocks every client of the assembly's shared one.
        await using var server = await RedisServer.StartAsync();
        await using var test = await TestConversation.StartAsync(server);
        var (_, agent, session) = test;
        Assert.Equal("Answer to: first", (await agent.RunAsync("first", session)).Text);

        await using var admin = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",allowAdmin=true");
        await using var spinner = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        await admin.GetDatabase().ExecuteAsync("CONFIG", "SET", "busy-reply-threshold", "1");
        // Spins until killed: meanwhile Redis answers every other command with BUSY, a transient failure.
        var spinning = spinner.GetDatabase().ScriptEvaluateAsync("while true do end");
        await Poll.UntilAsync(
            async () =>
            {
                try
                {
                    await admin.GetDatabase().PingAsync();
                    return false;
                }
                catch (RedisServerException ex) when (ex.Message.StartsWith("BUSY", StringComparison.Ordinal))
                {
                    return true;
                }
            },
            TimeSpan.FromSeconds(10),
            () => "Redis did not start answering BUSY");

        var refused = await Assert.ThrowsAnyAsync<Exception>(() => agent.StartRunAsync("second", session));
        await admin.GetDatabase().ExecuteAsync("SCRIPT", "KILL");
        await Assert.ThrowsAsync<RedisServerException>(() => spinning);

        Assert.True(DurableAgentsFailures.IsUnavailable(refused), "not classified as unavailable (so a 500, not a 503 with Retry-After): " + refused);
        Assert.Equal("Answer to: third", (await agent.RunAsync("third", session)).Text);
        var conversation = await agent.GetConversationAsync(session);
        Assert.Equal(["first", "Answer to: first", "third", "Answer to: third"], conversation.History.Select(m => m.Text));
        Assert.Equal(2, conversation.Runs.Count);
    }

    /// <summary>A lease store whose first drop of a claim waits, once asked to, until the test releases it.</summary>
    private sealed class HeldReleaseLeaseStore(IConnectionMultiplexer multiplexer, string serviceId, TimeProvider time) : RunLeaseStore(multiplexer, serviceId, time)
    {
        private readonly IConnectionMultiplexer _multiplexer = multiplexer;
        private int _held;

        public TaskCompletionSource Releasing { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<double?> ExpiryOfAsync(string conversationKey)
            => await _multiplexer.GetDatabase().SortedSetScoreAsync(KeyOf(conversationKey), conversationKey);

        public override async Task RemoveAsync(string conversationKey)
        {
            if (Interlocked.Exchange(ref _held, 1) == 0)
            {
                Releasing.TrySetResult();
                await Release.Task;
            }

            await base.RemoveAsync(conversationKey);
        }
    }
}

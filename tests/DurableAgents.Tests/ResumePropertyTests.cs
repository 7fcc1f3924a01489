using AgentStreaming.DurableAgents.Client;
using CsCheck;
using Microsoft.Extensions.AI;
using static AgentStreaming.DurableAgents.Tests.AgentUpdates;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>
/// Resuming with a continuation token as a property: for any answer, a token taken at any update — of a finished run,
/// or of a live run held mid-answer — resumes the stream right after that update: the updates before it and the
/// resumed ones together are the run's updates, each once, in order, and their text is the run's final answer.
/// </summary>
public sealed class ResumePropertyTests(AppendOnlyRedisServerFixture redis)
{
    private sealed record Plan(string[] Tokens, double At, bool Live, bool FromBytes)
    {
        public override string ToString()
            => $"{Tokens.Length} tokens, token at {At:0.##}{(Live ? ", live" : string.Empty)}{(FromBytes ? ", from bytes" : string.Empty)}: [{string.Join("|", Tokens)}]";
    }

    private static readonly Gen<Plan> Plans = Gen.Select(
        Gen.OneOf(Gen.String[Gen.Char["abcxyzé ,.\n–"], 1, 6], Gen.Const(" ")).Array[1, 40],
        Gen.Double[0, 1],
        Gen.Bool,
        Gen.Bool,
        (tokens, at, live, fromBytes) => new Plan(tokens, at, live, fromBytes));

    [Fact]
    public async Task ResumingWithTheTokenOfAnyUpdate_ContinuesRightAfterIt_WithNoGapAndNoDuplicate()
    {
        var model = new ScriptedChatClient();
        await using var cluster = await OrleansCluster.StartAsync(redis.Server, model);
        var agent = cluster.Client.GetAgent("TestAgent");
        await Plans.SampleAsync(plan => CheckAsync(model, agent, plan), iter: 30, threads: 1);
    }

    private static async Task CheckAsync(ScriptedChatClient model, DurableAIAgentProxy agent, Plan plan)
    {
        var tokens = plan.Tokens;
        // A live run is held after `held` tokens, so the token is taken while the run still streams.
        var held = plan.Live ? 1 + (int)(plan.At * (tokens.Length - 1)) : tokens.Length;
        var release = new TaskCompletionSource();
        model.Answer = _ => tokens;
        model.FreeTokens = held;
        model.BeforeToken = (_, ct) => release.Task.WaitAsync(ct);
        if (!plan.Live)
        {
            release.SetResult();
        }

        var session = agent.NewSession();
        var pick = plan.Live ? held - 1 : Math.Min(tokens.Length - 1, (int)(plan.At * tokens.Length));
        var before = await ReadAsync(ct => agent.RunStreamingAsync("go", session, Background(), ct), stop: u => u.ContinuationToken is null || Entry(u).Sequence == pick + 1);
        var at = before[^1];
        Assert.NotNull(at.ContinuationToken);
        release.TrySetResult();

        var token = plan.FromBytes ? ResponseContinuationToken.FromBytes(at.ContinuationToken.ToBytes()) : at.ContinuationToken;
        var after = await ReadAsync(ct => agent.RunStreamingAsync(session, Background(token), ct));
        var whole = await ReadAsync(ct => agent.RunStreamingAsync(session, Background(DurableAgentContinuationToken.ForRun(at.ResponseId!)), ct));
        var final = await agent.RunAsync(session, Background(token));

        Assert.Equal(whole.Select(u => Entry(u).Cursor), before.Concat(after).Select(u => Entry(u).Cursor));
        Assert.Equal(pick + 1, Entry(at).Sequence);
        Assert.Equal(string.Concat(tokens), Visible(before.Concat(after)));
        Assert.Equal(final.Text, Visible(before.Concat(after)));
        Assert.Null(after[^1].ContinuationToken);
        Assert.All(after[..^1], u => Assert.NotNull(u.ContinuationToken));
    }
}

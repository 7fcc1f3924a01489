using AgentStreaming.DurableAgents.Grains;

namespace AgentStreaming.DurableAgents.Tests;

public sealed class RunQueueTests
{
    [Fact]
    public void Next_SkipsEndedRuns_InOrderOfAcceptance()
    {
        var queue = new RunQueue([Run("a", RunStatus.Cancelled), Run("b"), Run("c")]);

        Assert.Equal("b", queue.Next()!.RunId);
        queue.Update(queue.Find("b")! with { Status = RunStatus.Completed });
        Assert.Equal("c", queue.Next()!.RunId);
        Assert.True(queue.Remove("c"));
        Assert.Null(queue.Next());
        Assert.False(queue.HasUnfinished);
    }

    [Fact]
    public void Update_WithACopyFromBeforeACancel_KeepsTheCancel()
    {
        var queue = new RunQueue([Run("a")]);
        var taken = queue.Next()!;

        queue.RequestCancel("a");
        var stored = queue.Update(taken with { Status = RunStatus.Running, Attempts = 1 });

        Assert.True(stored.CancelRequested);
        Assert.Equal(RunStatus.Running, queue.Find("a")!.Status);
        Assert.Null(queue.RequestCancel("unknown"));
    }

    [Fact]
    public void MarkEnding_SkippedByNext_UntilRemoved_WhileTheStoredRunStaysUnfinished()
    {
        var queue = new RunQueue([Run("a"), Run("b")]);

        var ending = queue.MarkEnding(Run("a", RunStatus.Cancelled));

        Assert.Equal(RunStatus.Cancelled, ending.Status);
        Assert.Equal("b", queue.Next()!.RunId);
        Assert.Equal(RunStatus.Queued, queue.Find("a")!.Status);
        Assert.True(queue.Remove("a"));
        Assert.Equal("b", queue.Next()!.RunId);
    }

    private static RunInfo Run(string id, RunStatus status = RunStatus.Queued) => new() { RunId = id, Message = id, Status = status };
}

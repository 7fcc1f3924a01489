using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.Streaming.Tests;

public sealed class RunIdsTests
{
    [Fact]
    public void New_TwoCalls_GiveDistinctValid32HexDigitIds()
    {
        var first = RunIds.New();
        var second = RunIds.New();

        Assert.NotEqual(first, second);
        Assert.Matches("^[0-9a-f]{32}$", first);
        Assert.True(RunIds.IsValid(first));
    }

    [Theory]
    [InlineData("abc-DEF_1.2", true)]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("has space", false)]
    [InlineData("agent-stream:{x}", false)]
    [InlineData("é", false)]
    public void IsValid_Id_FollowsTheRunIdRules(string? id, bool valid) => Assert.Equal(valid, RunIds.IsValid(id));

    [Fact]
    public void IsValid_LengthLimit_Is128()
    {
        Assert.True(RunIds.IsValid(new string('a', 128)));
        Assert.False(RunIds.IsValid(new string('a', 129)));
    }

    [Fact]
    public void Validate_InvalidId_ThrowsNamingTheParameter()
    {
        var ex = Assert.Throws<ArgumentException>(() => RunIds.Validate("no/slash", "conversationId"));
        Assert.Equal("conversationId", ex.ParamName);
        Assert.StartsWith("A run id is 1 to 128 characters", ex.Message, StringComparison.Ordinal);
        Assert.Equal("runId", Assert.Throws<ArgumentException>(() => RunIds.Validate("")).ParamName);
        Assert.Equal("ok", RunIds.Validate("ok"));
    }
}

using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.DurableAgents.Tests;

public sealed class DurableRunChunkTests
{
    [Fact]
    public void Kinds_MatchTheStreamEntryKinds_OneForOne()
    {
        // DurableRunChunk.From converts by value: the two enums must stay aligned.
        Assert.Equal(
            Enum.GetValues<StreamEntryKind>().Select(k => ((int)k, k.ToString())),
            Enum.GetValues<DurableRunChunkKind>().Select(k => ((int)k, k.ToString())));
    }

    [Fact]
    public void TypeName_IsTheStreamsTypeField()
    {
        foreach (var kind in Enum.GetValues<StreamEntryKind>())
        {
            var chunk = DurableRunChunk.From(new StreamChunk("1-0", kind, "t", 0, 1, DateTimeOffset.UnixEpoch));
            Assert.Equal(kind.ToWireName(), chunk.TypeName);
            Assert.Equal(kind.IsTerminal(), chunk.IsTerminal);
        }
    }
}

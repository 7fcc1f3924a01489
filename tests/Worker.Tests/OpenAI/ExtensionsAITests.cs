using System.ClientModel;
using AgentStreaming.Worker.Api.Tests;
using Microsoft.Extensions.AI;
using OpenAI.Responses;

namespace AgentStreaming.Worker.OpenAI.Tests;

/// <summary>
/// Microsoft.Extensions.AI's stock <c>OpenAIResponsesChatClient</c> pointed at the Worker: a background response polled
/// with its continuation token. (Its streaming path calls a <c>CreateResponseStreamingAsync</c> overload that OpenAI
/// 2.15, which this assembly uses, no longer has: the streamed resume runs in <c>tests/ResponsesAgentClient</c>, on
/// OpenAI 2.14, from <c>Failover.Tests/AgentFrameworkResponsesTests</c>.)
/// </summary>
#pragma warning disable OPENAI001, MEAI001 // The Responses client and continuation tokens are marked experimental.
public sealed class ExtensionsAITests(ApiFixture fixture)
{
    private IChatClient Chat() => new ResponsesClient(new ApiKeyCredential("unused-no-key-configured"), new ResponsesClientOptions { Endpoint = new Uri(fixture.BaseAddress, "/v1") })
        .AsIChatClient(ResponseEvents.Model);

    [Fact]
    public async Task ChatClient_Background_PolledWithTheContinuationToken_UntilTheFinalResponse()
    {
        var chat = Chat();
        var response = await chat.GetResponseAsync("Plan 1 day in Rome", new ChatOptions { AllowBackgroundResponses = true }, TestRuns.Deadline());
        Assert.NotNull(response.ContinuationToken);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (response.ContinuationToken is { } token)
        {
            Assert.True(DateTime.UtcNow < deadline, "The response did not end within 60 s.");
            await Task.Delay(50);
            response = await chat.GetResponseAsync([], new ChatOptions { AllowBackgroundResponses = true, ContinuationToken = token }, TestRuns.Deadline());
        }

        Assert.Contains("Rome", response.Text, StringComparison.Ordinal);
    }
}
#pragma warning restore OPENAI001, MEAI001

using AgentStreaming.DurableAgents.Client;
using AgentStreaming.Streaming.Streams;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>Reading a durable agent's updates the way a framework user does.</summary>
internal static class AgentUpdates
{
    public static AgentRunOptions Background(ResponseContinuationToken? token = null) => new() { AllowBackgroundResponses = true, ContinuationToken = token };

    /// <summary>Reads updates to the end (or until <paramref name="stop"/> says so), within a deadline.</summary>
    public static async Task<List<AgentResponseUpdate>> ReadAsync(Func<CancellationToken, IAsyncEnumerable<AgentResponseUpdate>> stream, Func<AgentResponseUpdate, bool>? stop = null, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var updates = new List<AgentResponseUpdate>();
        await foreach (var update in stream(deadline.Token))
        {
            updates.Add(update);
            if (stop?.Invoke(update) == true)
            {
                // Leaving the loop disposes the enumerator: the connection is "lost" here.
                break;
            }
        }

        return updates;
    }

    /// <summary>The answer a reader shows: text after the last reset.</summary>
    public static string Visible(IEnumerable<AgentResponseUpdate> updates)
    {
        var text = new System.Text.StringBuilder();
        foreach (var update in updates)
        {
            if (update.Contents.OfType<DurableRunResetContent>().Any())
            {
                text.Clear();
            }

            text.Append(update.Text);
        }

        return text.ToString();
    }

    public static DurableRunChunk Entry(AgentResponseUpdate update) => Assert.IsType<DurableRunChunk>(update.RawRepresentation);

    public static DurableAgentContinuationToken Token(AgentResponseUpdate update) => Assert.IsType<DurableAgentContinuationToken>(update.ContinuationToken);

    /// <summary>Polls a run with its token until the final response, within a deadline; counts the pending answers.</summary>
    public static async Task<(AgentResponse Final, int Pending)> PollToEndAsync(AIAgent agent, ResponseContinuationToken token, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        var pending = 0;
        while (true)
        {
            var response = await agent.RunAsync(session: null, Background(token));
            if (response.ContinuationToken is null)
            {
                return (response, pending);
            }

            pending++;
            token = response.ContinuationToken;
            Assert.True(DateTime.UtcNow < deadline, $"The run was still going after {pending} polls.");
            await Task.Delay(20);
        }
    }
}

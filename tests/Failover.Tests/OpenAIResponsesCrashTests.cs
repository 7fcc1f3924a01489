using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AgentStreaming.DurableAgents.Client;

namespace AgentStreaming.Failover.Tests;

/// <summary>An OpenAI Responses stream (<c>/v1/responses/{id}?stream=true</c>) read from one Worker while the Worker running the run is killed.</summary>
public sealed class OpenAIResponsesCrashTests(AppendOnlyRedisServerFixture redis, ITestOutputHelper output)
{
    [Fact]
    public async Task ResponseStream_AcrossAKill9OfTheRunsWorker_AbandonedItemEndsIncomplete_AnswerArrivesOnce()
    {
        await using var cluster = new WorkerCluster(redis.Server, tokensPerSecond: 40);
        var urls = await HttpWorkers.StartAsync(cluster, 2);
        var agent = cluster.Client.GetAgent("TravelPlanner");
        var session = agent.NewSession();
        var run = await agent.StartRunAsync("Plan a 3-day trip to Lisbon with food and museums", session);
        await RunStreams.FirstTextAsync(cluster.Client, run.RunId);
        var host = cluster.WorkerHosting((await agent.GetConversationAsync(session)).HostedBy!);
        var survivor = HttpWorkers.Besides(cluster, urls, host);

        // A live reader on the surviving Worker; the kill comes once it has seen the first attempt's text.
        using var http = new HttpClient { BaseAddress = survivor, Timeout = TimeSpan.FromMinutes(3) };
        var sawText = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        var reading = ReadEventsAsync(http, "resp_" + run.RunId, sawText, deadline.Token);
        await Task.WhenAny(sawText.Task, reading).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(sawText.Task.IsCompleted, "The stream ended before its first text delta.");
        await host.KillAsync();
        var events = await reading;

        var numbers = events.Select(e => e.GetProperty("sequence_number").GetInt32()).ToList();
        Assert.Equal(numbers.Order(), numbers);
        Assert.Equal(numbers.Count, numbers.Distinct().Count());
        var types = events.Select(e => e.GetProperty("type").GetString()).ToList();
        output.WriteLine(string.Join(", ", types.Where(t => t != "response.output_text.delta")));
        var abandoned = events.FindIndex(e => e.GetProperty("type").GetString() == "response.output_item.done"
            && e.GetProperty("item").GetProperty("type").GetString() == "message"
            && e.GetProperty("item").GetProperty("status").GetString() == "incomplete");
        Assert.True(abandoned > 0, "No abandoned message item ended incomplete.");
        Assert.Contains(events.Skip(abandoned + 1), e => e.GetProperty("type").GetString() == "response.in_progress");
        Assert.Equal("response.completed", types[^1]);
        var completed = events[^1].GetProperty("response");
        var message = Assert.Single(completed.GetProperty("output").EnumerateArray(), item => item.GetProperty("type").GetString() == "message");
        var text = message.GetProperty("content")[0].GetProperty("text").GetString();
        var conversation = await agent.GetConversationAsync(session);
        var answer = Assert.Single(conversation.History, m => m.Role == "assistant" && m.RunId == run.RunId);
        Assert.Equal(answer.Text, text);
        Assert.Equal(2, Assert.Single(conversation.Runs).Attempts);
        // The deltas after the restart are the answer, once.
        var restart = events.FindIndex(abandoned + 1, e => e.GetProperty("type").GetString() == "response.in_progress");
        Assert.Equal(answer.Text, string.Concat(events.Skip(restart).Where(e => e.GetProperty("type").GetString() == "response.output_text.delta").Select(e => e.GetProperty("delta").GetString())));
    }

    /// <summary>Reads the stream to its end with a minimal SSE parser (event + data lines; comments skipped).</summary>
    private static async Task<List<JsonElement>> ReadEventsAsync(HttpClient http, string responseId, TaskCompletionSource sawText, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/{responseId}?stream=true");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
        var events = new List<JsonElement>();
        var data = new StringBuilder();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Append(line.AsSpan(6));
            }
            else if (line.Length == 0 && data.Length > 0)
            {
                var e = JsonDocument.Parse(data.ToString()).RootElement.Clone();
                data.Clear();
                events.Add(e);
                if (e.GetProperty("type").GetString() == "response.output_text.delta")
                {
                    sawText.TrySetResult();
                }
            }
        }

        return events;
    }
}

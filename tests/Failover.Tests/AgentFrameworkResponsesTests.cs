using System.Text.Json;
using AgentStreaming.DurableAgents;

namespace AgentStreaming.Failover.Tests;

/// <summary>
/// The Agent Framework's stock <c>ChatClientAgent</c> over Microsoft.Extensions.AI's OpenAI Responses chat client,
/// pointed at Worker processes' <c>/v1</c>, with <c>AllowBackgroundResponses</c>: one process (the
/// ResponsesAgentClient) starts a response and leaves mid-stream, another resumes it with only the continuation
/// token's bytes — on another Worker, and across a <c>kill -9</c> of the Worker running the run.
/// </summary>
public sealed class AgentFrameworkResponsesTests(AppendOnlyRedisServerFixture redis, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task ChatClientAgent_TokenTakenInOneProcess_IsResumedByAnotherProcessOnAnotherWorker_NoGapNoRepeat()
    {
        await using var cluster = new WorkerCluster(redis.Server, tokensPerSecond: 60);
        var urls = await HttpWorkers.StartAsync(cluster, 2);
        var stopAfter = Random.Shared.Next(1, 12);
        output.WriteLine($"the first process leaves after {stopAfter} text updates");

        var started = await RunClientAsync(["start", "--url", V1(urls[0]), "--model", "TravelPlanner", "--input", "Plan a 2-day trip to Ghent", "--stop-after", stopAfter.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var token = started.Last(u => u.Token is not null).Token!;
        var resumed = await RunClientAsync(["resume", "--url", V1(urls[1]), "--model", "TravelPlanner", "--token", token]);

        var answer = await AnswerAsync(cluster, RunId(started));
        Assert.Equal(answer.Text, string.Concat(started.Select(u => u.Text)) + string.Concat(resumed.Select(u => u.Text)));
        Assert.Contains("Ghent", answer.Text, StringComparison.Ordinal);
        Assert.Equal(1, answer.Attempts);
    }

    [Fact]
    public async Task ChatClientAgent_TokenTakenBeforeAKill9OfTheRunsWorker_ResumedElsewhere_EndsWithTheRunsAnswer()
    {
        await using var cluster = new WorkerCluster(redis.Server, tokensPerSecond: 40);
        var urls = await HttpWorkers.StartAsync(cluster, 2);

        // The first process reads attempt 1 for a while and leaves; then the Worker running the run is killed.
        var started = await RunClientAsync(["start", "--url", V1(urls[0]), "--model", "TravelPlanner", "--input", "Plan a 3-day trip to Lisbon with food and museums", "--stop-after", "5"]);
        var token = started.Last(u => u.Token is not null).Token!;
        var runId = RunId(started);
        var location = await cluster.Client.FindRunAsync(runId);
        var agent = cluster.Client.GetAgent(location!.Value.AgentName);
        var host = cluster.WorkerHosting((await agent.GetConversationAsync(agent.GetSession(location.Value.ConversationId))).HostedBy!);
        await host.KillAsync();
        var resumed = await RunClientAsync(["resume", "--url", V1(HttpWorkers.Besides(cluster, urls, host)), "--model", "TravelPlanner", "--token", token]);

        // The abandoned attempt's message ends incomplete; the answer arrives in a message item of its own, once.
        var answer = await AnswerAsync(cluster, runId);
        var last = resumed.Last(u => u.Text.Length > 0).MessageId;
        Assert.NotEqual(started.Last(u => u.Text.Length > 0).MessageId, last);
        Assert.Equal(answer.Text, string.Concat(resumed.Where(u => u.MessageId == last).Select(u => u.Text)));
        Assert.Contains("Lisbon", answer.Text, StringComparison.Ordinal);
        Assert.Equal(2, answer.Attempts);
    }

    private static string V1(Uri worker) => new Uri(worker, "/v1").ToString();

    private static string RunId(List<Update> updates) => updates.First(u => u.ResponseId is not null).ResponseId!["resp_".Length..];

    /// <summary>The run's answer as its conversation keeps it, and how many attempts it took.</summary>
    private static async Task<(string Text, int Attempts)> AnswerAsync(WorkerCluster cluster, string runId)
    {
        var location = await cluster.Client.FindRunAsync(runId);
        var agent = cluster.Client.GetAgent(location!.Value.AgentName);
        var conversation = await agent.GetConversationAsync(agent.GetSession(location.Value.ConversationId));
        var run = Assert.Single(conversation.Runs, r => r.RunId == runId);
        Assert.Equal(RunStatus.Completed, run.Status);
        return (Assert.Single(conversation.History, m => m.Role == "assistant" && m.RunId == runId).Text, run.Attempts);
    }

    private async Task<List<Update>> RunClientAsync(string[] arguments)
    {
        await using var client = ServiceProcess.StartDotnet("responses-agent-client", RepoPaths.ProjectOutput(Path.Combine("tests", "ResponsesAgentClient"), "AgentStreaming.ResponsesAgentClient.dll"), arguments);
        var exit = await client.WaitForExitAsync(Deadline);
        output.WriteLine($"{arguments[0]}: exit {exit}");
        Assert.True(exit == 0, client.Output);
        var updates = client.Output.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonSerializer.Deserialize<Update>(l, JsonSerializerOptions.Web)!).ToList();
        Assert.NotEmpty(updates);
        return updates;
    }

    private sealed record Update(string? ResponseId, string? MessageId, string Text, string? Token);
}

using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Worker.Api.Tests;

namespace AgentStreaming.Worker.OpenAI.Tests;

/// <summary>The official <c>openai</c> npm package (openai-node, strict accumulators) against the real Worker.</summary>
public sealed class NodeSdkTests(ApiFixture fixture)
{
    private const string Prelude = """
        import OpenAI from 'openai';
        const client = new OpenAI({ baseURL: process.env.BASE_URL + '/v1', apiKey: 'unused-no-key-configured', maxRetries: 0 });
        const brief = (e) => [e.sequence_number, e.type, e.delta ?? null];
        const print = (value) => console.log(JSON.stringify(value));
        """;

    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(120);

    private Dictionary<string, string> Environment(params (string Key, string Value)[] more)
    {
        var environment = new Dictionary<string, string> { ["BASE_URL"] = fixture.BaseAddress.ToString().TrimEnd('/') };
        foreach (var (key, value) in more)
        {
            environment[key] = value;
        }

        return environment;
    }

    [Fact]
    public async Task CreateStreamBackground_Cut_RetrieveStartingAfter_ThenStreamHelper_FinalTextEqualsTheRunsAnswer()
    {
        var result = await NodeOpenAI.RunAsync(Prelude + """

            const first = [];
            let id;
            const stream = await client.responses.create({ model: 'TravelPlanner', input: 'Plan 3 days in Kyoto for gardens', stream: true, background: true });
            for await (const event of stream) {
              first.push(event);
              if (event.type === 'response.created') id = event.response.id;
              if (first.length >= Number(process.env.CUT)) break;   // the connection drops; the run goes on
            }
            const last = first[first.length - 1].sequence_number;
            const rest = [];
            const resumed = await client.responses.retrieve(id, { stream: true, starting_after: last });
            for await (const event of resumed) rest.push(event);
            const helper = client.responses.stream({ response_id: id });
            let helperEvents = 0;
            for await (const _ of helper) helperEvents++;
            const final = await helper.finalResponse();
            print({ id, last, first: first.map(brief), rest: rest.map(brief), helperEvents, text: final.output_text, status: final.status });
            """, Environment(("CUT", "9")), ScriptTimeout);

        var id = result.GetProperty("id").GetString()!;
        var events = result.GetProperty("first").EnumerateArray().Concat(result.GetProperty("rest").EnumerateArray()).ToList();
        var numbers = events.Select(e => e[0].GetInt32()).ToList();
        Assert.Equal(numbers.Order(), numbers);
        Assert.Equal(numbers.Count, numbers.Distinct().Count());
        Assert.Equal(9, result.GetProperty("first").GetArrayLength());
        Assert.True(result.GetProperty("rest")[0][0].GetInt32() > result.GetProperty("last").GetInt32());
        Assert.Equal("response.completed", events[^1][1].GetString());
        var deltas = string.Concat(events.Where(e => e[1].GetString() == "response.output_text.delta").Select(e => e[2].GetString()));
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var run = await TestRuns.WaitForEndAsync(http, id["resp_".Length..]);
        var answer = run.GetProperty("response").GetString();
        Assert.Equal(answer, deltas);
        Assert.Equal(answer, result.GetProperty("text").GetString());
        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal(events.Count, result.GetProperty("helperEvents").GetInt32());
    }

    [Fact]
    public async Task Cancel_Background_IsIdempotent_StreamHelperEndsWithTheCancelledResponse()
    {
        var result = await NodeOpenAI.RunAsync(Prelude + """

            const started = await client.responses.create({ model: 'TravelPlanner', input: 'Plan 7 days in Japan: Tokyo, Kyoto, Osaka, Nara, Hiroshima', background: true });
            const cancelled = await client.responses.cancel(started.id);
            const again = await client.responses.cancel(started.id);
            const helper = client.responses.stream({ response_id: started.id });
            const types = [];
            for await (const event of helper) types.push(event.type);
            const final = await helper.finalResponse();
            print({ started: started.status, cancelled: cancelled.status, again: again.status, last: types[types.length - 1], final: final.status });
            """, Environment(), ScriptTimeout);

        Assert.Contains(result.GetProperty("started").GetString(), new[] { "queued", "in_progress" });
        Assert.Equal("cancelled", result.GetProperty("cancelled").GetString());
        Assert.Equal("cancelled", result.GetProperty("again").GetString());
        Assert.Equal("response.incomplete", result.GetProperty("last").GetString());
        Assert.Equal("cancelled", result.GetProperty("final").GetString());
    }

    [Fact]
    public async Task FailedResponse_StreamHelperEndsWithTheFailure_NoThrow()
    {
        var runId = RunIds.New();
        var writer = fixture.Streams.CreateWriter(runId);
        await writer.BeginAsync();
        await writer.AppendAsync(AgentStreamEntry.ForText("Day 1: "));
        await writer.AppendAsync(AgentStreamEntry.ForText("temples"));
        await writer.CompleteAsync(AgentStreamEntry.ForError("The agent failed. Error id 0123456789abcdef."));

        var result = await NodeOpenAI.RunAsync(Prelude + """

            const helper = client.responses.stream({ response_id: process.env.RESPONSE_ID });
            const types = [];
            for await (const event of helper) types.push(event.type);
            const final = await helper.finalResponse();
            print({ last: types[types.length - 1], status: final.status, error: final.error, text: final.output_text });
            """, Environment(("RESPONSE_ID", "resp_" + runId)), ScriptTimeout);

        Assert.Equal("response.failed", result.GetProperty("last").GetString());
        Assert.Equal("failed", result.GetProperty("status").GetString());
        Assert.Equal("The agent failed. Error id 0123456789abcdef.", result.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("Day 1: temples", result.GetProperty("text").GetString());
    }

    [Fact]
    public async Task CrashReRun_StreamHelperAcrossTheReset_FinalTextIsTheNewAttemptsOnce()
    {
        var runId = RunIds.New();
        var first = fixture.Streams.CreateWriter(runId, attempt: 1);
        await first.BeginAsync();
        await first.AppendAsync(AgentStreamEntry.ForText("Abandoned "));
        await first.AppendAsync(AgentStreamEntry.ForText("draft"));
        await first.FlushAsync();

        // The script reads live; once it has seen the abandoned text it drops a file, and the test starts attempt 2.
        var signal = Path.Combine(Path.GetTempPath(), "i21-" + runId);
        var script = NodeOpenAI.RunAsync(Prelude + """

            import { writeFileSync } from 'node:fs';
            const helper = client.responses.stream({ response_id: process.env.RESPONSE_ID });
            const events = [];
            for await (const event of helper) {
              events.push(event);
              if (event.type === 'response.output_text.delta' && event.delta === 'draft') writeFileSync(process.env.SIGNAL + '.seen', '');
            }
            const final = await helper.finalResponse();
            print({ events: events.map(e => [e.sequence_number, e.type, e.output_index ?? null]), text: final.output_text, status: final.status, outputs: final.output.length });
            """, Environment(("RESPONSE_ID", "resp_" + runId), ("SIGNAL", signal)), ScriptTimeout);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(signal + ".seen"))
        {
            Assert.False(script.IsCompleted, "The script ended before it saw the abandoned text: " + (script.IsFaulted ? script.Exception : null));
            Assert.True(DateTime.UtcNow < deadline, "The script did not see the abandoned text within 60 s.");
            await Task.Delay(20);
        }

        File.Delete(signal + ".seen");
        var second = fixture.Streams.CreateWriter(runId, attempt: 2);
        await second.BeginAsync();
        await second.AppendAsync(AgentStreamEntry.ForText("Final "));
        await second.AppendAsync(AgentStreamEntry.ForText("answer"));
        await second.CompleteAsync(AgentStreamEntry.ForDone());
        var result = await script;

        Assert.Equal("Final answer", result.GetProperty("text").GetString());
        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal(1, result.GetProperty("outputs").GetInt32());
        Assert.Contains(result.GetProperty("events").EnumerateArray(), e => e[1].GetString() == "response.in_progress" && e[0].GetInt32() > 1);
    }

    [Fact]
    public async Task PreviousResponseId_SecondTurn_ContinuesTheConversation()
    {
        var result = await NodeOpenAI.RunAsync(Prelude + """

            const first = await client.responses.create({ model: 'TravelPlanner', input: 'Plan 2 days in Seville' });
            const second = await client.responses.create({ model: 'TravelPlanner', input: 'Now add a day trip to Cordoba', previous_response_id: first.id });
            print({ first: first.id, second: second.id, firstStatus: first.status, secondStatus: second.status, text: second.output_text });
            """, Environment(), ScriptTimeout);

        Assert.Equal("completed", result.GetProperty("firstStatus").GetString());
        Assert.Equal("completed", result.GetProperty("secondStatus").GetString());
        Assert.False(string.IsNullOrEmpty(result.GetProperty("text").GetString()));
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var first = await http.GetFromJsonAsync<JsonElement>($"/agents/{TestRuns.Agent}/runs/{result.GetProperty("first").GetString()!["resp_".Length..]}");
        var second = await http.GetFromJsonAsync<JsonElement>($"/agents/{TestRuns.Agent}/runs/{result.GetProperty("second").GetString()!["resp_".Length..]}");
        Assert.Equal(first.GetProperty("conversationId").GetString(), second.GetProperty("conversationId").GetString());
    }
}

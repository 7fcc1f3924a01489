using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Worker.Api.Tests;
using OpenAI.Responses;

namespace AgentStreaming.Worker.OpenAI.Tests;

/// <summary>The official OpenAI .NET SDK (<c>OpenAI</c> 2.15, <c>ResponsesClient</c>) pointed at the real Worker.</summary>
public sealed class OpenAISdkTests(ApiFixture fixture)
{
#pragma warning disable OPENAI001 // The Responses client is marked experimental by the SDK.
    private ResponsesClient Client() => new(new ApiKeyCredential("unused-no-key-configured"), new ResponsesClientOptions { Endpoint = new Uri(fixture.BaseAddress, "/v1") });

    private static CreateResponseOptions Options(string input, bool background = true, bool stream = true, string? previousResponseId = null)
    {
        var options = new CreateResponseOptions
        {
            Model = ResponseEvents.Model,
            BackgroundModeEnabled = background,
            StreamingEnabled = stream,
            PreviousResponseId = previousResponseId,
        };
        options.InputItems.Add(ResponseItem.CreateUserMessageItem(input));
        return options;
    }

    [Fact]
    public async Task BackgroundStream_CutAfterSomeEvents_ResumedWithStartingAfter_GivesTheRunsAnswerOnce()
    {
        var client = Client();
        var first = new List<StreamingResponseUpdate>();
        await using (var stream = await client.CreateResponseStreamingAsync(Options("Plan 3 days in Tokyo for food and temples"), TestRuns.Deadline()))
        {
            await foreach (var update in stream)
            {
                first.Add(update);
                if (first.OfType<StreamingResponseOutputTextDeltaUpdate>().Count() == 5)
                {
                    break; // the connection drops; the background run goes on
                }
            }
        }

        var id = first.OfType<StreamingResponseCreatedUpdate>().Single().Response.Id;
        var rest = new List<StreamingResponseUpdate>();
        await foreach (var update in await client.GetResponseStreamingAsync(new GetResponseOptions(id) { StartingAfter = first[^1].SequenceNumber, StreamingEnabled = true }, TestRuns.Deadline()))
        {
            rest.Add(update);
        }

        var all = first.Concat(rest).ToList();
        Assert.Equal(all.Select(u => u.SequenceNumber).Order(), all.Select(u => u.SequenceNumber));
        Assert.Equal(all.Count, all.Select(u => u.SequenceNumber).Distinct().Count());
        var text = string.Concat(all.OfType<StreamingResponseOutputTextDeltaUpdate>().Select(u => u.Delta));
        var completed = Assert.IsType<StreamingResponseCompletedUpdate>(all[^1]);
        Assert.Equal(ResponseStatus.Completed, completed.Response.Status);
        Assert.Equal(text, completed.Response.GetOutputText());
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var run = await TestRuns.WaitForEndAsync(http, id["resp_".Length..]);
        Assert.Equal(run.GetProperty("response").GetString(), text);
    }

    [Fact]
    public async Task Background_PolledWithGetResponse_UntilCompleted()
    {
        var client = Client();
        ResponseResult response = await client.CreateResponseAsync(Options("Plan 2 days in Vienna", stream: false));
        Assert.True(response.Status is ResponseStatus.Queued or ResponseStatus.InProgress, $"status {response.Status}");

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (response.Status is ResponseStatus.Queued or ResponseStatus.InProgress)
        {
            Assert.True(DateTime.UtcNow < deadline, "The response did not complete within 60 s.");
            await Task.Delay(50);
            response = await client.GetResponseAsync(response.Id);
        }

        Assert.Equal(ResponseStatus.Completed, response.Status);
        Assert.Contains("Vienna", response.GetOutputText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_WhileRunning_EndsCancelled_Idempotent_StreamEndsIncomplete()
    {
        var client = Client();
        ResponseResult started = await client.CreateResponseAsync(Options("Plan 7 days in Japan: Tokyo, Kyoto, Osaka, Nara, Hiroshima", stream: false));

        ResponseResult cancelled = await client.CancelResponseAsync(started.Id);
        ResponseResult again = await client.CancelResponseAsync(started.Id);

        Assert.Equal(ResponseStatus.Cancelled, cancelled.Status);
        Assert.Equal(ResponseStatus.Cancelled, again.Status);
        var updates = new List<StreamingResponseUpdate>();
        await foreach (var update in await client.GetResponseStreamingAsync(started.Id, TestRuns.Deadline()))
        {
            updates.Add(update);
        }

        Assert.IsType<StreamingResponseIncompleteUpdate>(updates[^1]);
        Assert.Equal(ResponseStatus.Cancelled, ((StreamingResponseIncompleteUpdate)updates[^1]).Response.Status);
    }

    [Fact]
    public async Task UnknownModel_Answers404InOpenAIShape()
    {
        var client = Client();
        var options = Options("Hi", stream: false);
        options.Model = "NoSuchAgent";

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => client.CreateResponseAsync(options));

        Assert.Equal(404, ex.Status);
        using var body = JsonDocument.Parse(ex.GetRawResponse()!.Content.ToString());
        Assert.Equal("model_not_found", body.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task PreviousResponseId_SecondTurn_ContinuesTheSameConversation()
    {
        var client = Client();
        ResponseResult first = await client.CreateResponseAsync(Options("Plan 2 days in Lisbon", background: false, stream: false));
        Assert.Equal(ResponseStatus.Completed, first.Status);

        ResponseResult second = await client.CreateResponseAsync(Options("Now add a day trip to Sintra", background: false, stream: false, previousResponseId: first.Id));

        Assert.Equal(ResponseStatus.Completed, second.Status);
        Assert.NotEqual(first.Id, second.Id);
        using var http = ApiFixture.Client(fixture.BaseAddress);
        var firstRun = await http.GetFromJsonAsync<JsonElement>($"/agents/{TestRuns.Agent}/runs/{first.Id["resp_".Length..]}");
        var secondRun = await http.GetFromJsonAsync<JsonElement>($"/agents/{TestRuns.Agent}/runs/{second.Id["resp_".Length..]}");
        var conversation = firstRun.GetProperty("conversationId").GetString();
        Assert.Equal(conversation, secondRun.GetProperty("conversationId").GetString());
        var history = await http.GetFromJsonAsync<JsonElement>($"/agents/{TestRuns.Agent}/conversations/{conversation}");
        Assert.Equal(2, history.GetProperty("runs").GetArrayLength());
    }
#pragma warning restore OPENAI001
}

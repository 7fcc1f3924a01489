using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AgentStreaming.Worker.Api.Tests;

namespace AgentStreaming.Worker.OpenAI.Tests;

/// <summary>One OpenAI streaming event as received: its SSE event name, its JSON and its <c>sequence_number</c>.</summary>
public sealed record ReceivedEvent(string Type, string Json)
{
    public JsonElement Data => JsonDocument.Parse(Json).RootElement;

    public int SequenceNumber => Data.GetProperty("sequence_number").GetInt32();
}

/// <summary>Raw HTTP over <c>/v1/responses</c>, read with the independent SSE parser of the API tests.</summary>
internal static class ResponseEvents
{
    public const string Model = TestRuns.Agent;

    /// <summary>Starts a background response (no stream) and returns the response object.</summary>
    public static async Task<JsonElement> StartBackgroundAsync(HttpClient http, string input, string? previousResponseId = null)
    {
        using var response = await http.PostAsJsonAsync("/v1/responses", new { model = Model, input, background = true, previous_response_id = previousResponseId }, TestRuns.Deadline());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>(TestRuns.Deadline());
    }

    /// <summary>Polls <c>GET /v1/responses/{id}</c> until the response has ended (50 ms between polls, with a deadline).</summary>
    public static async Task<JsonElement> WaitForEndAsync(HttpClient http, string responseId, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var response = await http.GetFromJsonAsync<JsonElement>("/v1/responses/" + responseId, TestRuns.Deadline());
            if (response.GetProperty("status").GetString() is "completed" or "failed" or "cancelled" or "incomplete")
            {
                return response;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Response {responseId} did not end within {seconds} s: {response}");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Reads <c>GET /v1/responses/{id}?stream=true</c> (after <paramref name="startingAfter"/>), at most
    /// <paramref name="max"/> events, then drops the connection.
    /// </summary>
    public static async Task<List<ReceivedEvent>> ReadAsync(HttpClient http, string responseId, int? startingAfter = null, int max = int.MaxValue, CancellationToken cancellationToken = default)
    {
        var url = "/v1/responses/" + responseId + "?stream=true"
            + (startingAfter is { } after ? "&starting_after=" + after.ToString(CultureInfo.InvariantCulture) : string.Empty);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken == default ? TestRuns.Deadline() : cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return await ReadEventsAsync(response, max, cancellationToken == default ? TestRuns.Deadline() : cancellationToken);
    }

    /// <summary>Reads events off an SSE response until it ends or <paramref name="max"/> events arrived.</summary>
    public static async Task<List<ReceivedEvent>> ReadEventsAsync(HttpResponseMessage response, int max, CancellationToken cancellationToken)
    {
        var events = new List<ReceivedEvent>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
        var block = new StringBuilder();
        while (events.Count < max && await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            block.Append(line).Append('\n');
            if (line.Length == 0)
            {
                foreach (var e in SseParser.Parse(block.ToString()).Events)
                {
                    events.Add(new ReceivedEvent(e.Type, e.Data));
                }

                block.Clear();
            }
        }

        return events;
    }

    /// <summary>The text a client shows: the deltas of the message items that were not abandoned.</summary>
    public static string FinalText(JsonElement response)
        => string.Concat(response.GetProperty("output").EnumerateArray()
            .Where(item => item.GetProperty("type").GetString() == "message")
            .SelectMany(item => item.GetProperty("content").EnumerateArray())
            .Select(part => part.GetProperty("text").GetString()));

    /// <summary>Checks what every stream must satisfy: sequence numbers strictly increase, one terminal event, last.</summary>
    public static void AssertWellFormed(IReadOnlyList<ReceivedEvent> events)
    {
        Assert.NotEmpty(events);
        for (var i = 0; i < events.Count; i++)
        {
            Assert.Equal(events[i].Type, events[i].Data.GetProperty("type").GetString());
            if (i > 0)
            {
                Assert.True(events[i].SequenceNumber > events[i - 1].SequenceNumber, $"sequence_number {events[i].SequenceNumber} after {events[i - 1].SequenceNumber}");
            }
        }

        var terminals = events.Count(e => e.Type is "response.completed" or "response.failed" or "response.incomplete");
        Assert.Equal(1, terminals);
        Assert.Contains(events[^1].Type, new[] { "response.completed", "response.failed", "response.incomplete" });
    }
}

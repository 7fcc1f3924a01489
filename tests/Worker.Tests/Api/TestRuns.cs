using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Streaming.Streams;
using StackExchange.Redis;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>Helpers over the API and the stored streams.</summary>
internal static class TestRuns
{
    public const string Agent = "TravelPlanner";

    public static CancellationToken Deadline(int seconds = 60) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    /// <summary>Starts a run fire-and-forget and returns the 202 body.</summary>
    public static async Task<JsonElement> StartAsync(HttpClient http, string message, string? conversationId = null)
    {
        using var response = await http.PostAsJsonAsync($"/agents/{Agent}/runs", new { message, conversationId });
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>Polls the run until it has ended (deadline, no fixed sleeps between checks longer than 50 ms).</summary>
    public static async Task<JsonElement> WaitForEndAsync(HttpClient http, string runId, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var run = await http.GetFromJsonAsync<JsonElement>($"/agents/{Agent}/runs/{runId}");
            if (run.GetProperty("status").GetString() is "completed" or "failed" or "cancelled")
            {
                return run;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Run {runId} did not end within {seconds} s: {run}");
            await Task.Delay(50);
        }
    }

    /// <summary>GETs the SSE stream and reads it to its end.</summary>
    public static async Task<(HttpResponseMessage Response, string Body)> ReadSseAsync(HttpClient http, string url, string? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Deadline());
        var body = await response.Content.ReadAsStringAsync(Deadline());
        return (response, body);
    }

    /// <summary>The stored entries of a run, read with XRANGE (independently of the server and the reader).</summary>
    public static async Task<List<(string Id, string Type, string Text, string? Data, string? Error, int Attempt)>> EntriesAsync(IConnectionMultiplexer redis, string runId)
    {
        var entries = await redis.GetDatabase().StreamRangeAsync("agent-stream:" + runId);
        return [.. entries.Select(e => (
            e.Id.ToString(),
            e["type"].ToString(),
            e["text"].ToString(),
            e["data"].HasValue ? e["data"].ToString() : null,
            e["error"].HasValue ? e["error"].ToString() : null,
            int.Parse(e["attempt"].ToString(), System.Globalization.CultureInfo.InvariantCulture)))];
    }

    /// <summary>What the SSE data of an entry must be once a client parsed it: line breaks arrive as LF.</summary>
    public static string ExpectedData((string Id, string Type, string Text, string? Data, string? Error, int Attempt) entry) => entry.Type switch
    {
        "text" => entry.Text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n'),
        "error" or "cancelled" => entry.Error ?? string.Empty,
        "reset" => $"{{\"attempt\":{entry.Attempt}}}",
        _ => entry.Data ?? entry.Text,
    };

    /// <summary>Writes a run's stream directly with the Streaming.Core writer.</summary>
    public static async Task<string> WriteRunAsync(RedisStreamResponseHandler streams, IEnumerable<AgentStreamEntry> entries, bool complete = true)
    {
        var runId = RunIds.New();
        var writer = streams.CreateWriter(runId);
        await writer.BeginAsync();
        foreach (var entry in entries)
        {
            await writer.AppendAsync(entry);
        }

        if (complete)
        {
            await writer.CompleteAsync(AgentStreamEntry.ForDone());
        }
        else
        {
            await writer.FlushAsync();
        }

        return runId;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Streaming.Streams;

namespace AgentStreaming.HttpBenchmarks;

/// <summary>
/// The OpenAI Responses routes next to the native SSE route, on one Worker, the two sides alternated within each round
/// so that the shared machine's load falls on both alike:
/// <list type="bullet">
/// <item>time from <c>POST</c> to the first text event of a new run: <c>response.output_text.delta</c> on
/// <c>POST /v1/responses</c> (stream + background) against <c>event: text</c> on <c>POST /agents/{agent}/runs</c>
/// (start-and-stream), the offline model unthrottled;</item>
/// <item>resuming in the middle of a long run's stream: <c>GET /v1/responses/{id}?stream=true&amp;starting_after=N</c>
/// against <c>GET /agents/{agent}/runs/{id}/stream?cursor=…</c> at the same entry, time to the first event and to
/// the end.</item>
/// </list>
/// </summary>
internal static class OpenAIResponsesBenchmark
{
    private const string Prompt = "Plan 2 days in Kyoto";

    public static async Task RunAsync(HttpClient http, RedisStreamResponseHandler streams, int rounds, int entries)
    {
        // Warm-up: JIT and connections on both sides.
        for (var i = 0; i < 3; i++)
        {
            await FirstTextAsync(http, openAI: false);
            await FirstTextAsync(http, openAI: true);
        }

        var native = new List<double>();
        var openAI = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            var first = i % 2 == 0;
            (first ? native : openAI).Add(await FirstTextAsync(http, openAI: !first));
            (first ? openAI : native).Add(await FirstTextAsync(http, openAI: first));
        }

        Print($"POST → first text event, {rounds} runs each (alternated)", native, openAI);

        // A finished run of `entries` text entries, written as the runtime writes them.
        var runId = RunIds.New();
        var writer = streams.CreateWriter(runId);
        await writer.BeginAsync();
        for (var i = 0; i < entries; i++)
        {
            await writer.AppendAsync(AgentStreamEntry.ForText("tok" + i.ToString(CultureInfo.InvariantCulture) + " "));
        }

        await writer.CompleteAsync(AgentStreamEntry.ForDone());
        var middle = entries / 2;
        var cursor = await EntryIdAsync(streams, runId, middle - 1);
        // The OpenAI side's number for the same place: the sequence_number of the delta of that entry, read off one full
        // replay (the mapping stays the Worker's own).
        var (startingAfter, fullReplay) = await DeltaNumberAsync(http, runId, middle - 1);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Resume after entry {middle - 1} of {entries} (cursor {cursor}, starting_after {startingAfter}); one full OpenAI replay took {fullReplay:0.0} ms."));

        var nativeFirst = new List<double>();
        var nativeEnd = new List<double>();
        var openAIFirst = new List<double>();
        var openAIEnd = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            var nativeFirstInRound = i % 2 == 0;
            for (var side = 0; side < 2; side++)
            {
                var isNative = (side == 0) == nativeFirstInRound;
                var url = isNative
                    ? $"/agents/TravelPlanner/runs/{runId}/stream?cursor={cursor}"
                    : $"/v1/responses/resp_{runId}?stream=true&starting_after={startingAfter}";
                var (toFirst, toEnd, count) = await ResumeAsync(http, url);
                // The rest of the text, then `done` (native) or the message's three `.done` events and `response.completed`.
                var expected = entries - middle + (isNative ? 1 : 4);
                if (count != expected)
                {
                    throw new InvalidOperationException($"{url} sent {count} events; expected {expected}.");
                }

                (isNative ? nativeFirst : openAIFirst).Add(toFirst);
                (isNative ? nativeEnd : openAIEnd).Add(toEnd);
            }
        }

        Print($"resume in the middle of a {entries}-entry run → first event, {rounds} each", nativeFirst, openAIFirst);
        Print($"resume in the middle of a {entries}-entry run → end ({entries - middle} text events and the end), {rounds} each", nativeEnd, openAIEnd);
    }

    /// <summary>Starts a run and streams it in the same response; the time from sending the POST to its first text event (the run is read to its end).</summary>
    private static async Task<double> FirstTextAsync(HttpClient http, bool openAI)
    {
        using var request = openAI
            ? new HttpRequestMessage(HttpMethod.Post, "/v1/responses") { Content = JsonContent.Create(new { model = "TravelPlanner", input = Prompt, stream = true, background = true }) }
            : new HttpRequestMessage(HttpMethod.Post, "/agents/TravelPlanner/runs") { Content = JsonContent.Create(new { message = Prompt }) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        var marker = openAI ? "event: response.output_text.delta" : "event: text";
        var started = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double? first = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (first is null && line == marker)
            {
                first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        }

        return first ?? throw new InvalidOperationException($"{request.RequestUri} sent no text event.");
    }

    /// <summary>Time to the first event and to the end of a resumed stream, and how many events it sent.</summary>
    private static async Task<(double First, double End, int Count)> ResumeAsync(HttpClient http, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        var started = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double first = double.NaN;
        var count = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                if (count++ == 0)
                {
                    first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }
            }
        }

        return (first, Stopwatch.GetElapsedTime(started).TotalMilliseconds, count);
    }

    private static async Task<string> EntryIdAsync(RedisStreamResponseHandler streams, string runId, int index)
    {
        var i = 0;
        await foreach (var chunk in streams.ReadStreamAsync(runId))
        {
            if (i++ == index)
            {
                return chunk.EntryId;
            }
        }

        throw new InvalidOperationException($"The stream has fewer than {index + 1} entries.");
    }

    /// <summary>The <c>sequence_number</c> of the text delta of entry <paramref name="index"/>, from one full replay, and how long that replay took.</summary>
    private static async Task<(int Number, double Elapsed)> DeltaNumberAsync(HttpClient http, string runId, int index)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/responses/resp_{runId}?stream=true");
        var started = Stopwatch.GetTimestamp();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var deltas = 0;
        int? number = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (number is null && line.StartsWith("data: ", StringComparison.Ordinal))
            {
                using var json = JsonDocument.Parse(line.AsMemory(6));
                if (json.RootElement.GetProperty("type").GetString() == "response.output_text.delta" && deltas++ == index)
                {
                    number = json.RootElement.GetProperty("sequence_number").GetInt32();
                }
            }
        }

        return (number ?? throw new InvalidOperationException($"The replay has fewer than {index + 1} deltas."), Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private static void Print(string title, List<double> native, List<double> openAI)
    {
        var n = native.Order().ToArray();
        var o = openAI.Order().ToArray();
        double P(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        Console.WriteLine(title);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  native SSE : p50 {P(n, 0.5),8:0.00} ms  p99 {P(n, 0.99),8:0.00} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  OpenAI     : p50 {P(o, 0.5),8:0.00} ms  p99 {P(o, 0.99),8:0.00} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  OpenAI / native: p50 ×{P(o, 0.5) / P(n, 0.5):0.00}, p99 ×{P(o, 0.99) / P(n, 0.99):0.00}"));
    }
}

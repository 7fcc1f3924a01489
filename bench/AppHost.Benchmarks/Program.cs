// Cold start of the whole topology: from StartAsync to "worker healthy" (ready) and to the first streamed text
// chunk the demo Client prints, each measured over fresh topologies (new temp Redis data, new processes).
using System.Diagnostics;
using System.Globalization;
using AgentStreaming.AppHost.Hosting;
using AgentStreaming.AppHost.Testing;

var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
var ready = new List<double>();
var firstChunk = new List<double>();
for (var i = 0; i < runs; i++)
{
    await using var app = DistributedApplicationTestingBuilder.Create().Build();
    var client = default(ResourceInstance);
    var firstText = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
    var started = Stopwatch.GetTimestamp();
    var start = app.Application.StartAsync();
    // The Client prints its header and tool calls on stderr; the itinerary's first chunk is its first stdout line.
    while ((client = app.Application.Instances.FirstOrDefault(x => x.Name == "client")) is null)
    {
        await Task.Delay(1);
    }

    client.Console.LineAdded += line =>
    {
        if (!line.IsError && line.Text.Length > 0)
        {
            firstText.TrySetResult(Stopwatch.GetTimestamp());
        }
    };
    await start;
    await app.Application.WaitForHealthyAsync("worker", TimeSpan.FromSeconds(120));
    var readyAt = Stopwatch.GetTimestamp();
    var chunkAt = await firstText.Task.WaitAsync(TimeSpan.FromSeconds(120));
    ready.Add(Stopwatch.GetElapsedTime(started, readyAt).TotalSeconds);
    firstChunk.Add(Stopwatch.GetElapsedTime(started, chunkAt).TotalSeconds);
    Console.Error.WriteLine($"run {i + 1}: ready {ready[^1]:0.00} s, first chunk {firstChunk[^1]:0.00} s");
}

Console.WriteLine("| measure | median | min | max | runs |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
Row("start → worker healthy (ready)", ready);
Row("start → first streamed chunk of the demo run", firstChunk);

void Row(string name, List<double> values)
{
    var sorted = values.Order().ToList();
    var median = sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {median:0.00} s | {sorted[0]:0.00} s | {sorted[^1]:0.00} s | {sorted.Count} |"));
}

// A reader in a process of its own, for tests that resume a run elsewhere than where its token was taken:
//   AgentStreaming.ResumeReader --redis <connection string> --cluster-id <id> --agent <name> --token <base64 of the token's bytes>
// It connects an Orleans client, calls RunStreamingAsync with the token, and writes one JSON line per update to stdout:
//   {"entryId","sequence","attempt","text","reset","error","finish","token"}; exit code 0 at the end of the run,
// 1 with "error: <type>: <message>" on stderr.
using System.Text.Json;
using AgentStreaming.DurableAgents.Client;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i + 1 < args.Length; i += 2)
{
    options[args[i]] = args[i + 1];
}

var redis = options["--redis"];
var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Configuration["ConnectionStrings:redis"] = redis;
builder.UseOrleansClient(client => client.UseDurableAgentsRedis(redis, options["--cluster-id"]));
builder.Services.AddDurableAgentsClient();
using var host = builder.Build();
try
{
    await host.StartAsync();
    AIAgent agent = host.Services.GetRequiredService<DurableAgentClient>().GetAgent(options["--agent"]);
    var token = ResponseContinuationToken.FromBytes(Convert.FromBase64String(options["--token"]));
    using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
    await foreach (var update in agent.RunStreamingAsync(session: null, new AgentRunOptions { AllowBackgroundResponses = true, ContinuationToken = token }, deadline.Token))
    {
        var entry = (DurableRunChunk)update.RawRepresentation!;
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            entryId = entry.Cursor,
            sequence = entry.Sequence,
            attempt = entry.Attempt,
            text = update.Text,
            reset = update.Contents.OfType<DurableRunResetContent>().Any(),
            error = update.Contents.OfType<ErrorContent>().FirstOrDefault()?.ErrorCode,
            finish = update.FinishReason?.Value,
            token = update.ContinuationToken is { } next ? Convert.ToBase64String(next.ToBytes().Span) : null,
        }));
    }

    await host.StopAsync();
    return 0;
}
catch (Exception ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.GetType().Name}: {ex.Message}");
    return 1;
}

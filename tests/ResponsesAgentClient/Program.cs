// A client in a process of its own, for tests that resume a background response elsewhere than where it started:
// the Agent Framework's stock ChatClientAgent over Microsoft.Extensions.AI's OpenAI Responses chat client.
//   AgentStreaming.ResponsesAgentClient start  --url <worker>/v1 --model <agent> --input <text> --stop-after <n>
//   AgentStreaming.ResponsesAgentClient resume --url <worker>/v1 --model <agent> --token <base64 of the token's bytes>
// "start" runs with AllowBackgroundResponses and leaves (drops the connection) after n updates with text; "resume"
// continues from the token to the end. One JSON line per update on stdout: {"responseId","messageId","text","token"};
// exit code 0, or 1 with "error: <type>: <message>" on stderr.
using System.ClientModel;
using System.Text.Json;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using OpenAI.Responses;

var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 1; i + 1 < args.Length; i += 2)
{
    options[args[i]] = args[i + 1];
}

try
{
    IChatClient chat = new ResponsesClient(new ApiKeyCredential("unused"), new ResponsesClientOptions { Endpoint = new Uri(options["--url"]) })
        .AsIChatClient(options["--model"]);
    AIAgent agent = new ChatClientAgent(chat);
    var session = await agent.CreateSessionAsync();
    using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(3));
    var updates = args[0] switch
    {
        "start" => agent.RunStreamingAsync(options["--input"], session, new AgentRunOptions { AllowBackgroundResponses = true }, deadline.Token),
        "resume" => agent.RunStreamingAsync(session, new AgentRunOptions
        {
            AllowBackgroundResponses = true,
            ContinuationToken = ResponseContinuationToken.FromBytes(Convert.FromBase64String(options["--token"])),
        }, deadline.Token),
        var other => throw new ArgumentException($"Unknown command '{other}': use start or resume."),
    };
    var stopAfter = options.TryGetValue("--stop-after", out var n) ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : int.MaxValue;
    var withText = 0;
    await foreach (var update in updates)
    {
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            responseId = update.ResponseId,
            messageId = update.MessageId,
            text = update.Text,
            token = update.ContinuationToken is { } next ? Convert.ToBase64String(next.ToBytes().Span) : null,
        }));
        if (update.Text.Length > 0 && ++withText >= stopAfter)
        {
            break;
        }
    }

    return 0;
}
catch (Exception ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.GetType().Name}: {ex.Message}");
    return 1;
}

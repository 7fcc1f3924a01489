using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.Worker.Tests;

/// <summary>A request the fake server received.</summary>
internal sealed record RecordedRequest(string Path, string Query, string? Authorization, string? ApiKey, JsonNode Body);

/// <summary>
/// A local server speaking the OpenAI chat-completions wire format (streaming as server-sent events), on a free
/// loopback port, for the real OpenAI and Azure OpenAI SDKs. It answers any POST ending in <c>/chat/completions</c>:
/// when the request offers <c>get_weather_forecast</c> and holds no tool result yet, it asks for that tool;
/// once a tool result is in, it streams a short text that quotes the forecast's condition.
/// </summary>
internal sealed class FakeChatCompletionsServer : IAsyncDisposable
{
    public const string ToolCallId = "call_fake_weather_1";
    public const string ToolArguments = """{"destination":"Tokyo","date":"2026-05-01"}""";
    public const string Model = "fake-model";

    private WebApplication? _app;

    private FakeChatCompletionsServer()
    {
    }

    /// <summary>The server's root, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public static async Task<FakeChatCompletionsServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new FakeChatCompletionsServer { _app = app };
        app.MapPost("/{**path}", server.HandleAsync);
        await app.StartAsync();

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server.BaseAddress = new Uri(address.TrimEnd('/') + "/");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    /// <summary>The text the server streams after a tool result whose JSON has the given condition.</summary>
    public static string AnswerText(string condition) =>
        $"Great news: the forecast for Tokyo says {condition}. Day 1: visit Senso-ji and eat ramen.";

    private async Task HandleAsync(HttpContext context, string path)
    {
        if (!path.EndsWith("chat/completions", StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        var body = (await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted))!;
        Requests.Enqueue(new RecordedRequest(
            context.Request.Path.Value!,
            context.Request.QueryString.Value ?? string.Empty,
            context.Request.Headers.Authorization.FirstOrDefault(),
            context.Request.Headers["api-key"].FirstOrDefault(),
            body));

        var messages = body["messages"]!.AsArray();
        var toolResult = messages.LastOrDefault(m => (string?)m!["role"] == "tool");
        var offersWeather = body["tools"]?.AsArray().Any(t => (string?)t!["function"]!["name"] == "get_weather_forecast") == true;

        List<JsonObject> chunks;
        if (toolResult is not null)
        {
            var condition = ReadCondition(toolResult["content"]);
            chunks = [.. Words(AnswerText(condition)).Select((w, i) => Chunk(i == 0 ? new JsonObject { ["role"] = "assistant", ["content"] = w } : new JsonObject { ["content"] = w })),
                Chunk(new JsonObject(), "stop")];
        }
        else if (offersWeather)
        {
            chunks =
            [
                Chunk(new JsonObject
                {
                    ["role"] = "assistant",
                    ["content"] = null,
                    ["tool_calls"] = new JsonArray(new JsonObject
                    {
                        ["index"] = 0,
                        ["id"] = ToolCallId,
                        ["type"] = "function",
                        ["function"] = new JsonObject { ["name"] = "get_weather_forecast", ["arguments"] = string.Empty },
                    }),
                }),
                // Arguments arrive in pieces, as real servers send them.
                ToolArgumentsChunk(ToolArguments[..12]),
                ToolArgumentsChunk(ToolArguments[12..]),
                Chunk(new JsonObject(), "tool_calls"),
            ];
        }
        else
        {
            chunks = [Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "Hello from the fake server." }), Chunk(new JsonObject(), "stop")];
        }

        if (body["stream"]?.GetValue<bool>() != true)
        {
            await WriteCompletionAsync(context, chunks);
            return;
        }

        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        foreach (var chunk in chunks.Append(UsageChunk()))
        {
            await context.Response.WriteAsync($"data: {chunk.ToJsonString()}\n\n", Encoding.UTF8, context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }

        await context.Response.WriteAsync("data: [DONE]\n\n", Encoding.UTF8, context.RequestAborted);
    }

    private static string ReadCondition(JsonNode? content)
    {
        var text = content is JsonArray parts
            ? string.Concat(parts.Select(p => (string?)p!["text"]))
            : (string?)content ?? string.Empty;
        try
        {
            return JsonNode.Parse(text)?["condition"]?.GetValue<string>() ?? "(no condition)";
        }
        catch (JsonException)
        {
            return "(unreadable tool result)";
        }
    }

    private static IEnumerable<string> Words(string text) =>
        text.Split(' ').Select((w, i) => i == 0 ? w : " " + w);

    private static JsonObject ToolArgumentsChunk(string piece) => Chunk(new JsonObject
    {
        ["tool_calls"] = new JsonArray(new JsonObject
        {
            ["index"] = 0,
            ["function"] = new JsonObject { ["arguments"] = piece },
        }),
    });

    private static JsonObject Chunk(JsonObject delta, string? finishReason = null)
        => Completion("chat.completion.chunk", new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finishReason });

    private static JsonObject UsageChunk() => Completion("chat.completion.chunk", choice: null, withUsage: true);

    /// <summary>A completion object (or chunk) of the fake model with one choice, or none.</summary>
    private static JsonObject Completion(string kind, JsonObject? choice, bool withUsage = false)
    {
        var completion = new JsonObject
        {
            ["id"] = "chatcmpl-fake",
            ["object"] = kind,
            ["created"] = 1_700_000_000,
            ["model"] = Model,
            ["choices"] = choice is null ? new JsonArray() : new JsonArray(choice),
        };
        if (withUsage)
        {
            completion["usage"] = new JsonObject { ["prompt_tokens"] = 42, ["completion_tokens"] = 17, ["total_tokens"] = 59 };
        }

        return completion;
    }

    private static async Task WriteCompletionAsync(HttpContext context, List<JsonObject> chunks)
    {
        var deltas = chunks.Select(c => c["choices"]![0]!).ToList();
        var content = string.Concat(deltas.Select(d => (string?)d["delta"]!["content"]));
        var toolCalls = deltas.Any(d => d["delta"]!["tool_calls"] is not null)
            ? new JsonArray(new JsonObject
            {
                ["id"] = ToolCallId,
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = "get_weather_forecast", ["arguments"] = ToolArguments },
            })
            : null;
        var message = new JsonObject
        {
            ["role"] = "assistant",
            ["content"] = toolCalls is null ? content : null,
            ["tool_calls"] = toolCalls,
        };
        var choice = new JsonObject { ["index"] = 0, ["message"] = message, ["finish_reason"] = (string?)deltas[^1]["finish_reason"] };
        var completion = Completion("chat.completion", choice, withUsage: true);
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(completion.ToJsonString(), Encoding.UTF8, context.RequestAborted);
    }
}

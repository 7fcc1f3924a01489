using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentStreaming.Worker.Agents;
using Microsoft.Extensions.AI;

namespace AgentStreaming.Worker.Models;

/// <summary>
/// A chat model that needs no network, for demos and tests. For a new user request it first asks for both
/// TravelPlanner tools (<c>get_weather_forecast</c>, <c>get_local_events</c>) with <see cref="FunctionCallContent"/>,
/// so the caller's function-invocation loop runs them; once their results are in the conversation it streams a
/// markdown itinerary built from the request and the results, word by word at
/// <see cref="OfflineDemoModelOptions.TokensPerSecond"/>, and ends with <see cref="UsageContent"/>.
/// </summary>
/// <remarks>
/// The output depends only on the messages (no clock, no randomness), so transcripts can be compared.
/// Delays use the given <see cref="TimeProvider"/>.
/// </remarks>
public sealed partial class OfflineDemoChatClient : IChatClient
{
    public const string ModelId = "offline-demo";

    private readonly OfflineDemoModelOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ChatClientMetadata _metadata = new("offline-demo", providerUri: null, defaultModelId: ModelId);

    public OfflineDemoChatClient(OfflineDemoModelOptions? options = null, TimeProvider? timeProvider = null)
    {
        _options = options ?? new OfflineDemoModelOptions();
        if (_options.TokensPerSecond < 0 || !double.IsFinite(_options.TokensPerSecond))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "TokensPerSecond must be 0 or more.");
        }

        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    public async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        cancellationToken.ThrowIfCancellationRequested();

        var history = messages as IReadOnlyList<ChatMessage> ?? messages.ToList();
        var lastUser = LastIndexOf(history, ChatRole.User);
        var turn = history.Count(m => m.Role == ChatRole.User);
        var request = OfflineTripRequest.Parse(
            history.Take(lastUser + 1).Where(m => m.Role == ChatRole.User).Reverse().Select(m => m.Text));
        var current = history.Skip(lastUser + 1).ToList();
        var inputTokens = CountTokens(options?.Instructions) + history.Sum(m => CountTokens(m.Text));

        var toolsAlreadyCalled = current.Any(m => m.Contents.OfType<FunctionCallContent>().Any());
        var calls = toolsAlreadyCalled ? [] : ToolCalls(request, turn, options);
        if (calls.Count > 0)
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, calls)
            {
                MessageId = $"offline-{turn}-tools",
                ResponseId = $"offline-{turn}-tools",
                ModelId = ModelId,
                FinishReason = ChatFinishReason.ToolCalls,
            };
            yield return Usage($"offline-{turn}-tools", inputTokens, calls.Count * 12);
            yield break;
        }

        var (weather, weatherText, events, eventsText) = ReadToolResults(current);
        var itinerary = OfflineItineraryWriter.Write(request, weather, weatherText, events, eventsText);
        var responseId = $"offline-{turn}-answer";
        var interval = _options.TokensPerSecond > 0 ? TimeSpan.FromSeconds(1 / _options.TokensPerSecond) : TimeSpan.Zero;
        var started = _timeProvider.GetTimestamp();
        var emitted = 0;

        foreach (var token in Tokenize(itinerary))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_options.FailAfterTokens is { } failAfter && emitted >= failAfter)
            {
                throw new InvalidOperationException(
                    $"Offline demo model: injected failure after {failAfter} tokens (OfflineDemoModel:FailAfterTokens).");
            }

            if (emitted > 0 && interval > TimeSpan.Zero)
            {
                // Pace against the start time, not the previous token, so slow consumers do not add drift.
                var wait = (interval * emitted) - _timeProvider.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _timeProvider, cancellationToken);
                }
            }

            emitted++;
            yield return new ChatResponseUpdate(ChatRole.Assistant, token)
            {
                MessageId = responseId,
                ResponseId = responseId,
                ModelId = ModelId,
            };
        }

        var usage = Usage(responseId, inputTokens, emitted);
        usage.FinishReason = ChatFinishReason.Stop;
        yield return usage;
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(ChatClientMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    public void Dispose()
    {
    }

    /// <summary>Splits text into word-ish tokens, each with the whitespace before it; concatenated they give the text back.</summary>
    internal static IReadOnlyList<string> Tokenize(string text)
    {
        var tokens = TokenPattern().Matches(text).Select(m => m.Value).ToList();
        var end = tokens.Sum(t => t.Length);
        if (end < text.Length)
        {
            tokens.Add(text[end..]);
        }

        return tokens;
    }

    private static List<AIContent> ToolCalls(OfflineTripRequest request, int turn, ChatOptions? options)
    {
        var available = options?.Tools?.OfType<AIFunctionDeclaration>().Select(t => t.Name).ToHashSet(StringComparer.Ordinal) ?? [];
        var calls = new List<AIContent>(2);
        foreach (var (name, suffix) in new[] { (TravelTools.WeatherForecastToolName, "weather"), (TravelTools.LocalEventsToolName, "events") })
        {
            if (available.Contains(name))
            {
                calls.Add(new FunctionCallContent(
                    $"call_{turn}_{suffix}",
                    name,
                    new Dictionary<string, object?> { ["destination"] = request.Destination, ["date"] = request.Date }));
            }
        }

        return calls;
    }

    private static (WeatherForecast?, string?, IReadOnlyList<LocalEvent>?, string?) ReadToolResults(List<ChatMessage> current)
    {
        var names = current.SelectMany(m => m.Contents.OfType<FunctionCallContent>()).ToDictionary(c => c.CallId, c => c.Name);
        WeatherForecast? weather = null;
        IReadOnlyList<LocalEvent>? events = null;
        string? weatherText = null;
        string? eventsText = null;

        foreach (var result in current.SelectMany(m => m.Contents.OfType<FunctionResultContent>()))
        {
            var name = names.GetValueOrDefault(result.CallId);
            if (name == TravelTools.WeatherForecastToolName)
            {
                weather = TryRead<WeatherForecast>(result.Result);
                weatherText = weather is null ? Describe(result) : null;
            }
            else if (name == TravelTools.LocalEventsToolName)
            {
                events = TryRead<List<LocalEvent>>(result.Result);
                eventsText = events is null ? Describe(result) : null;
            }
        }

        return (weather, weatherText, events, eventsText);
    }

    private static T? TryRead<T>(object? result)
        where T : class
    {
        try
        {
            return result switch
            {
                null => null,
                T typed => typed,
                JsonElement json => json.Deserialize<T>(JsonSerializerOptions.Web),
                string text => JsonSerializer.Deserialize<T>(text, JsonSerializerOptions.Web),
                _ => JsonSerializer.SerializeToElement(result, JsonSerializerOptions.Web).Deserialize<T>(JsonSerializerOptions.Web),
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Describe(FunctionResultContent result) =>
        result.Exception is not null ? "The tool failed, so this part is based on general knowledge."
        : result.Result is JsonElement { ValueKind: JsonValueKind.String } s ? s.GetString() ?? string.Empty
        : Convert.ToString(result.Result, CultureInfo.InvariantCulture) ?? string.Empty;

    private static ChatResponseUpdate Usage(string responseId, int inputTokens, int outputTokens) =>
        new(ChatRole.Assistant, [new UsageContent(new UsageDetails
        {
            InputTokenCount = inputTokens,
            OutputTokenCount = outputTokens,
            TotalTokenCount = inputTokens + outputTokens,
        })])
        {
            MessageId = responseId,
            ResponseId = responseId,
            ModelId = ModelId,
        };

    private static int LastIndexOf(IReadOnlyList<ChatMessage> messages, ChatRole role)
    {
        for (var i = messages.Count - 1; i >= 0; i--)
        {
            if (messages[i].Role == role)
            {
                return i;
            }
        }

        return -1;
    }

    private static int CountTokens(string? text) => string.IsNullOrEmpty(text) ? 0 : TokenPattern().Count(text);

    [GeneratedRegex(@"\s*\S+", RegexOptions.CultureInvariant)]
    private static partial Regex TokenPattern();
}

using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>A hand-written chat model for tests: streams the tokens it is given, optionally waiting on a gate or failing.</summary>
internal sealed class ScriptedChatClient : IChatClient
{
    private readonly List<IList<ChatMessage>> _calls = [];

    /// <summary>Produces the tokens of an answer to the given messages.</summary>
    public Func<IList<ChatMessage>, IReadOnlyList<string>> Answer { get; set; } = messages => ["Answer ", "to: ", messages[^1].Text];

    /// <summary>
    /// When set, the answer is these contents instead of <see cref="Answer"/>'s tokens, one update each (text, function
    /// calls, usage): lets a test drive tool calls through the agent's function invocation.
    /// </summary>
    public Func<IList<ChatMessage>, IReadOnlyList<AIContent>>? Contents { get; set; }

    /// <summary>Awaited before each token (after the first <see cref="FreeTokens"/>); lets a test hold a run mid-stream.</summary>
    public Func<int, CancellationToken, Task>? BeforeToken { get; set; }

    /// <summary>Holds every token (after the first <see cref="FreeTokens"/>) until the returned gate is completed; sets <see cref="BeforeToken"/>.</summary>
    /// <returns>The gate: <c>SetResult()</c> lets the run go on.</returns>
    public TaskCompletionSource HoldTokens()
    {
        var gate = new TaskCompletionSource();
        BeforeToken = (_, ct) => gate.Task.WaitAsync(ct);
        return gate;
    }

    /// <summary>Tokens streamed before <see cref="BeforeToken"/> applies.</summary>
    public int FreeTokens { get; set; }

    /// <summary>Throw this after streaming <see cref="FailAfterTokens"/> tokens.</summary>
    public Exception? Failure { get; set; }

    public int FailAfterTokens { get; set; }

    public IReadOnlyList<IList<ChatMessage>> Calls
    {
        get
        {
            lock (_calls)
            {
                return [.. _calls];
            }
        }
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken))
        {
            updates.Add(update);
        }

        return updates.ToChatResponse();
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        lock (_calls)
        {
            _calls.Add(list);
        }

        if (Contents is { } contents)
        {
            foreach (var content in contents(list))
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return new ChatResponseUpdate(ChatRole.Assistant, [content]);
            }

            yield break;
        }

        var tokens = Answer(list);
        for (var i = 0; i < tokens.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Failure is not null && i == FailAfterTokens)
            {
                throw Failure;
            }

            if (BeforeToken is not null && i >= FreeTokens)
            {
                await BeforeToken(i, cancellationToken);
            }

            yield return new ChatResponseUpdate(ChatRole.Assistant, tokens[i]);
        }

        if (Failure is not null && tokens.Count <= FailAfterTokens)
        {
            throw Failure;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }
}

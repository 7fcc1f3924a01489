using AgentStreaming.DurableAgents.Storage;

namespace AgentStreaming.DurableAgents.Grains;

/// <summary>
/// A conversation's finished runs and their messages: loaded once when the grain activates, appended one turn at a
/// time (<see cref="ConversationHistoryStore"/>), so recording a run never rewrites the conversation.
/// </summary>
internal sealed class ConversationHistory
{
    private readonly ConversationHistoryStore _store;
    private readonly string _conversationKey;
    private readonly List<ConversationTurn> _turns = [];
    private readonly List<ConversationMessage> _messages = [];
    private readonly Dictionary<string, int> _runs = new(StringComparer.Ordinal);

    public ConversationHistory(ConversationHistoryStore store, string conversationKey)
    {
        _store = store;
        _conversationKey = conversationKey;
    }

    /// <summary>The messages of every recorded turn, oldest first.</summary>
    public IReadOnlyList<ConversationMessage> Messages => _messages;

    /// <summary>The finished runs, in the order they were recorded.</summary>
    public IEnumerable<RunInfo> Runs => _turns.Where(t => t.Run is not null).Select(t => WithResponse(t.Run!, t));

    /// <summary>How many turns are recorded.</summary>
    public int Count => _turns.Count;

    /// <summary>Loads the log.</summary>
    public async Task LoadAsync()
    {
        var turns = await _store.LoadAsync(_conversationKey);
        _turns.Clear();
        _messages.Clear();
        _runs.Clear();
        foreach (var turn in turns)
        {
            Add(turn);
        }
    }

    /// <summary>Whether the run has a recorded turn (it has ended).</summary>
    public bool Contains(string runId) => _runs.ContainsKey(runId);

    /// <summary>A finished run with its response text, or <see langword="null"/>.</summary>
    public RunInfo? FindRun(string runId)
        => _runs.TryGetValue(runId, out var index) && _turns[index] is { Run: { } run } turn ? WithResponse(run, turn) : null;

    /// <summary>Appends turns to the log (<c>RPUSH</c>), then to this view.</summary>
    /// <param name="turns">The turns.</param>
    /// <param name="ttl">The conversation's time-to-live.</param>
    public async Task RecordAsync(IReadOnlyList<ConversationTurn> turns, TimeSpan ttl)
    {
        await _store.AppendAsync(_conversationKey, turns, ttl);
        foreach (var turn in turns)
        {
            Add(turn);
        }
    }

    /// <summary>Deletes the log.</summary>
    public async Task DeleteAsync()
    {
        await _store.DeleteAsync(_conversationKey);
        _turns.Clear();
        _messages.Clear();
        _runs.Clear();
    }

    private void Add(ConversationTurn turn)
    {
        if (turn.RunId is { } runId && _runs.TryGetValue(runId, out var existing))
        {
            // The same run recorded again (a retried append): the later record wins.
            _turns[existing] = turn;
            RebuildMessages();
            return;
        }

        if (turn.RunId is { } id)
        {
            _runs[id] = _turns.Count;
        }

        _turns.Add(turn);
        _messages.AddRange(turn.Messages);
    }

    private void RebuildMessages()
    {
        _messages.Clear();
        foreach (var turn in _turns)
        {
            _messages.AddRange(turn.Messages);
        }
    }

    private static RunInfo WithResponse(RunInfo run, ConversationTurn turn)
        => run.ResponseText is not null
            ? run
            : run with { ResponseText = turn.Messages.LastOrDefault(m => m.Role == "assistant")?.Text ?? string.Empty };
}

namespace AgentStreaming.Client.Commands;

/// <summary>What the client was asked to do, from the command line.</summary>
internal sealed record ClientSettings
{
    /// <summary>The agent every run goes to.</summary>
    public const string AgentName = "TravelPlanner";

    /// <summary><c>--prompt</c>: one turn, then exit.</summary>
    public string? Prompt { get; init; }

    /// <summary><c>--conversation</c>: continue this conversation.</summary>
    public string? ConversationId { get; init; }

    /// <summary><c>--wait</c>: wait-for-response mode instead of fire-and-forget.</summary>
    public bool Wait { get; init; }

    /// <summary><c>--run</c>: stream an existing run.</summary>
    public string? RunId { get; init; }

    /// <summary><c>--cursor</c>: resume after this entry id.</summary>
    public string? Cursor { get; init; }

    /// <summary><c>--json</c>: one JSON object per stream entry.</summary>
    public bool Json { get; init; }

    /// <summary><c>--redis</c>: overrides ConnectionStrings:redis / REDIS_CONNECTION_STRING.</summary>
    public string? Redis { get; init; }

    /// <summary><c>--cluster-id</c>: the Orleans cluster id of the Workers.</summary>
    public string? ClusterId { get; init; }

    /// <summary>Which of the three modes applies.</summary>
    public ClientMode Mode => RunId is not null ? ClientMode.Replay : Prompt is not null ? ClientMode.OneShot : ClientMode.Chat;
}

/// <summary>The client's modes.</summary>
internal enum ClientMode
{
    /// <summary>Interactive (or piped) chat, many turns.</summary>
    Chat,

    /// <summary><c>--prompt</c>: one turn.</summary>
    OneShot,

    /// <summary><c>--run</c>: stream an existing run; needs Redis only.</summary>
    Replay,
}

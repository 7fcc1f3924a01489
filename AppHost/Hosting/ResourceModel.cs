namespace AgentStreaming.AppHost.Hosting;

/// <summary>Where a resource instance is in its life.</summary>
public enum ResourceState
{
    /// <summary>Declared, not started yet.</summary>
    NotStarted,

    /// <summary>Waiting for the resources it depends on to be healthy.</summary>
    Waiting,

    /// <summary>Its process is starting.</summary>
    Starting,

    /// <summary>Its process runs but is not healthy yet.</summary>
    Running,

    /// <summary>Its process runs and its health check passes.</summary>
    Healthy,

    /// <summary>Its process exited; see the exit code.</summary>
    Exited,

    /// <summary>It exited unexpectedly and is being started again.</summary>
    Restarting,

    /// <summary>It is being stopped.</summary>
    Stopping,

    /// <summary>It was stopped on request.</summary>
    Stopped,

    /// <summary>It could not be started (see its console log).</summary>
    FailedToStart,
}

/// <summary>When a resource is started again after its process exits.</summary>
public enum RestartPolicy
{
    /// <summary>Never (a job such as the demo client).</summary>
    Never,

    /// <summary>When it exits with a non-zero code or is killed.</summary>
    OnFailure,
}

/// <summary>A snapshot of a resource instance, as the dashboard and tests see it.</summary>
/// <param name="Name">The instance name (<c>redis</c>, <c>worker-1</c>, <c>client</c>).</param>
/// <param name="Resource">The declared resource it belongs to (<c>worker</c> for <c>worker-1</c>).</param>
/// <param name="Kind">What it is: <c>redis</c>, <c>project</c> or <c>external</c>.</param>
/// <param name="State">Its state.</param>
/// <param name="ProcessId">Its process id while running.</param>
/// <param name="ExitCode">The last exit code.</param>
/// <param name="StartedAt">When its current process started.</param>
/// <param name="Restarts">How many times it was started again.</param>
/// <param name="Endpoints">Its URLs and addresses.</param>
public sealed record ResourceSnapshot(
    string Name,
    string Resource,
    string Kind,
    ResourceState State,
    int? ProcessId,
    int? ExitCode,
    DateTimeOffset? StartedAt,
    int Restarts,
    IReadOnlyDictionary<string, string> Endpoints);

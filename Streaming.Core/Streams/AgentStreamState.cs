namespace AgentStreaming.Streaming.Streams;

/// <summary>The state of a run's stream at one moment, as <see cref="IAgentStreamReader.GetStateAsync"/> found it.</summary>
/// <param name="Exists">
/// The stream has entries, or its writer claimed it (began the attempt) and has not written yet. <see langword="false"/>
/// for a stream never written and for one that expired or was evicted.
/// </param>
/// <param name="Expired">
/// Entries were written but the stream key is gone (it expired or was evicted while its metadata remains): it will not
/// come back, and a reader of it fails with <see cref="AgentStreamNotFoundException"/>.
/// </param>
/// <param name="TerminalAt">
/// The entry id of the terminal entry (<c>done</c>, <c>error</c> or <c>cancelled</c>) when the stream's last entry is
/// terminal; <see langword="null"/> while the run is still writing or when the stream does not exist. Nothing follows it.
/// </param>
/// <param name="LastEntry">
/// The entry id of the stream's last entry at the time of the probe (the terminal one once the run ended), or
/// <see langword="null"/> when it has none: what a reader must reach to have read everything written so far.
/// </param>
public readonly record struct AgentStreamState(bool Exists, bool Expired, StreamCursor? TerminalAt, StreamCursor? LastEntry = null);

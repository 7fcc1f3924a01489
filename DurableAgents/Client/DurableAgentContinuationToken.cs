using System.Buffers;
using System.Text.Json;
using AgentStreaming.Streaming.Streams;
using Microsoft.Extensions.AI;

namespace AgentStreaming.DurableAgents.Client;

/// <summary>
/// The continuation token of a durable run: the run, and the last entry of its Redis Stream the holder has received.
/// Pass it in <c>AgentRunOptions.ContinuationToken</c> to poll the run (<c>RunAsync</c>) or to resume its stream
/// (<c>RunStreamingAsync</c>) strictly after that entry, in this process or another one.
/// </summary>
/// <remarks>
/// Treat it as opaque: keep it as it is, or store <see cref="ResponseContinuationToken.ToBytes"/> (or the token
/// serialized with System.Text.Json) and give back <see cref="ResponseContinuationToken.FromBytes"/>; the agent reads
/// any token through its bytes. The bytes are small UTF-8 JSON,
/// <c>{"type":"durableAgentContinuationToken","runId":"…","after":"…"}</c>, and carry no conversation text.
/// </remarks>
public sealed class DurableAgentContinuationToken : ResponseContinuationToken
{
    private const string TypeName = "durableAgentContinuationToken";

    private DurableAgentContinuationToken(string runId, string? afterEntryId)
    {
        RunId = runId;
        AfterEntryId = afterEntryId;
    }

    /// <summary>The run.</summary>
    public string RunId { get; }

    /// <summary>The entry id of the last stream entry received, or <see langword="null"/> for the run's start.</summary>
    public string? AfterEntryId { get; }

    /// <summary>
    /// A token for a run known by its id (e.g. from the HTTP API or a log line), to read it from the start or
    /// strictly after the entry id a reader last received.
    /// </summary>
    /// <param name="runId">The run id.</param>
    /// <param name="afterEntryId">The entry id of the last entry received (<c>&lt;sequence&gt;-0</c> such as <c>42-0</c>; ids of streams written before entry ids carried the sequence, such as <c>1734649123456-0</c>, work too), or <see langword="null"/> for the start.</param>
    /// <returns>The token.</returns>
    /// <exception cref="ArgumentException">The run id or the entry id is malformed.</exception>
    public static DurableAgentContinuationToken ForRun(string runId, string? afterEntryId = null)
    {
        RunIds.Validate(runId);
        if (afterEntryId is not null)
        {
            // Canonical form, so two tokens for one position have the same bytes.
            afterEntryId = StreamCursor.Parse(afterEntryId).ToString();
        }

        return new DurableAgentContinuationToken(runId, afterEntryId);
    }

    /// <summary>Reads any continuation token as a durable run's token (through its bytes unless it is one already).</summary>
    /// <param name="token">The token.</param>
    /// <param name="parameterName">The parameter it came in.</param>
    /// <returns>The durable token.</returns>
    /// <exception cref="ArgumentException">The token is not a durable agent's continuation token.</exception>
    public static DurableAgentContinuationToken FromToken(ResponseContinuationToken token, string parameterName = "token")
    {
        ArgumentNullException.ThrowIfNull(token);
        return token is DurableAgentContinuationToken durable ? durable : Parse(token.ToBytes().Span, parameterName);
    }

    /// <inheritdoc />
    public override ReadOnlyMemory<byte> ToBytes()
    {
        var buffer = new ArrayBufferWriter<byte>(64 + RunId.Length);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", TypeName);
            writer.WriteString("runId", RunId);
            if (AfterEntryId is not null)
            {
                writer.WriteString("after", AfterEntryId);
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenMemory;
    }

    /// <summary>The run id and entry id, for logs.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => AfterEntryId is null ? $"run {RunId} (start)" : $"run {RunId} after {AfterEntryId}";

    private static DurableAgentContinuationToken Parse(ReadOnlySpan<byte> bytes, string parameterName)
    {
        string? type = null, runId = null, after = null;
        try
        {
            var reader = new Utf8JsonReader(bytes);
            if (bytes.IsEmpty || !reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw Malformed(parameterName, "it is not a JSON object");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                if (!reader.Read())
                {
                    break;
                }

                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }

                var value = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                switch (name)
                {
                    case "type": type = value; break;
                    case "runId": runId = value; break;
                    case "after": after = value; break;
                }
            }
        }
        catch (JsonException ex)
        {
            throw Malformed(parameterName, "it could not be parsed", ex);
        }

        if (type != TypeName)
        {
            throw Malformed(parameterName, "it was not issued by a durable agent");
        }

        if (!RunIds.IsValid(runId))
        {
            throw Malformed(parameterName, "its run id is missing or malformed");
        }

        if (after is not null && !StreamCursor.TryParse(after, out _))
        {
            throw Malformed(parameterName, "its stream entry id is malformed");
        }

        return new DurableAgentContinuationToken(runId!, after is null ? null : StreamCursor.Parse(after).ToString());
    }

    private static ArgumentException Malformed(string parameterName, string why, Exception? inner = null)
        => new($"The continuation token is not a durable agent's continuation token: {why}. Pass the ContinuationToken of a response or update of a durable agent as it was received (or rebuilt with ResponseContinuationToken.FromBytes from its bytes).", parameterName, inner);
}

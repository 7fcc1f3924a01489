using System.Text.Json;

namespace AgentStreaming.Worker.Api;

/// <summary>JSON settings of the API's bodies (web defaults: camelCase names).</summary>
internal static class AgentApiJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}

using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentStreaming.Worker.Security.Tests;

/// <summary>A principal and how it presents itself: a JWT, or a named key as <c>X-Api-Key</c> or as <c>Authorization: Bearer</c> (as OpenAI SDKs send it).</summary>
internal sealed record Credential(string Principal, string Kind, string Secret)
{
    public static Credential Jwt(string subject, params string[] roles) => new(subject, "jwt", TestTokens.Mint(subject, roles));

    public static Credential HeaderKey(string principal) => new(principal, "x-api-key", TestTokens.NamedKeys[principal]);

    public static Credential BearerKey(string principal) => new(principal, "bearer-key", TestTokens.NamedKeys[principal]);

    public void Apply(HttpRequestMessage request)
    {
        if (Kind == "x-api-key")
        {
            request.Headers.Add("X-Api-Key", Secret);
        }
        else
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Secret);
        }
    }

    public async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request)
    {
        Apply(request);
        return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Api.Tests.TestRuns.Deadline());
    }

    public async Task<HttpResponseMessage> GetAsync(HttpClient http, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        return await SendAsync(http, request);
    }

    /// <summary>Starts a run (a new conversation) as this principal: its run id and conversation id.</summary>
    public async Task<(string RunId, string ConversationId)> StartAsync(HttpClient http, string message)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/agents/{Api.Tests.TestRuns.Agent}/runs") { Content = JsonContent.Create(new { message }) };
        using var response = await SendAsync(http, request);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("runId").GetString()!, body.GetProperty("conversationId").GetString()!);
    }

    /// <summary>The conversation ids the principal's list shows, and the principal the list says it is for.</summary>
    public async Task<(string Principal, bool Admin, HashSet<string> Conversations)> ListAsync(HttpClient http)
    {
        using var response = await GetAsync(http, "/agents/conversations");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (
            body.GetProperty("principal").GetString()!,
            body.GetProperty("admin").GetBoolean(),
            [.. body.GetProperty("conversations").EnumerateArray().Select(c => c.GetProperty("conversationId").GetString()!)]);
    }
}

/// <summary>What a route answered, with the ids asked for replaced, so that two answers about different ids compare.</summary>
internal readonly record struct Answer(int Status, string? ContentType, string Body)
{
    public static async Task<Answer> ReadAsync(HttpResponseMessage response, params string[] ids)
    {
        var text = await response.Content.ReadAsStringAsync(Api.Tests.TestRuns.Deadline());
        foreach (var id in ids)
        {
            text = text.Replace(id, "<id>", StringComparison.Ordinal);
        }

        if (JsonNode.Parse(text.Length == 0 ? "null" : text) is JsonObject json)
        {
            // Per-request values: a trace id and an error id differ between any two requests.
            json.Remove("traceId");
            json.Remove("errorId");
            text = json.ToJsonString();
        }

        return new((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, text);
    }
}

using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using AgentStreaming.AppHost.Hosting;

namespace AgentStreaming.AppHost.Dashboard;

/// <summary>
/// The Agents tab's server side: conversations from the Redis index, details from a Worker's HTTP API
/// (<c>GET /agents/{agent}/conversations/{id}</c>), each run's trace id from its stream's first entry.
/// </summary>
internal sealed partial class DashboardAgentApi : IDisposable
{
    private readonly DistributedApplication _app;
    private readonly DashboardRedis _redis;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly string _workerResource;

    public DashboardAgentApi(DistributedApplication app, DashboardRedis redis)
    {
        _app = app;
        _redis = redis;
        _workerResource = app.Configuration["Dashboard:AgentApiResource"] ?? "worker";
        // The Workers' API key, when the topology sets one, so the dashboard can read through it.
        var key = app.Configuration["Dashboard:AgentApiKey"] ?? app.Configuration[$"Worker:Environment:AgentApi__ApiKey"];
        if (!string.IsNullOrEmpty(key))
        {
            _http.DefaultRequestHeaders.Add("X-Api-Key", key);
        }

        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
    }

    /// <summary>Agent names, conversation ids, run ids: what the Worker issues; anything else is refused before use.</summary>
    public static bool IsValidName(string value) => NamePattern().IsMatch(value);

    /// <summary>A Redis Stream entry id.</summary>
    public static bool IsValidCursor(string value) => CursorPattern().IsMatch(value);

    public static IEndpointRouteBuilder Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/agents/conversations", async (DashboardAgentApi agents, int? take, CancellationToken ct) => await agents.ConversationsAsync(Math.Clamp(take ?? 50, 1, 500), ct));
        api.MapGet("/agents/{agent}/conversations/{conversationId}", async (DashboardAgentApi agents, string agent, string conversationId, CancellationToken ct) =>
            IsValidName(agent) && IsValidName(conversationId)
                ? await agents.ConversationAsync(agent, conversationId, ct)
                : Results.Problem(statusCode: 400, title: "Malformed id", detail: "Agent names and conversation ids are letters, digits, '-', '_' and '.'."));
        api.MapPost("/agents/{agent}/runs/{runId}/cancel", async (DashboardAgentApi agents, string agent, string runId, CancellationToken ct) =>
            IsValidName(agent) && IsValidName(runId)
                ? await agents.ForwardAsync(HttpMethod.Post, $"/agents/{Uri.EscapeDataString(agent)}/runs/{Uri.EscapeDataString(runId)}/cancel", ct)
                : Results.Problem(statusCode: 400, title: "Malformed id"));
        api.MapGet("/agents/{agent}/runs/{runId}", async (DashboardAgentApi agents, string agent, string runId, CancellationToken ct) =>
            IsValidName(agent) && IsValidName(runId)
                ? await agents.ForwardAsync(HttpMethod.Get, $"/agents/{Uri.EscapeDataString(agent)}/runs/{Uri.EscapeDataString(runId)}", ct)
                : Results.Problem(statusCode: 400, title: "Malformed id"));
        return api;
    }

    public void Dispose() => _http.Dispose();

    private string? WorkerUrl()
    {
        var workers = _app.InstancesOf(_workerResource).Where(i => i.Endpoints.ContainsKey("http")).ToList();
        var chosen = workers.FirstOrDefault(i => i.State == ResourceState.Healthy) ?? workers.FirstOrDefault(i => i.State == ResourceState.Running);
        return chosen?.Endpoints["http"];
    }

    private async Task<IResult> ConversationsAsync(int take, CancellationToken cancellationToken)
    {
        if (!_redis.IsConfigured)
        {
            return Results.Ok(new { serviceId = _redis.ServiceId, worker = (string?)null, conversations = Array.Empty<object>() });
        }

        IReadOnlyList<IndexedConversation> indexed;
        try
        {
            indexed = await _redis.ConversationsAsync(take).ConfigureAwait(false);
        }
        catch (StackExchange.Redis.RedisException ex)
        {
            return Results.Problem(statusCode: 503, title: "Redis unavailable", detail: ex.Message);
        }

        var worker = WorkerUrl();
        using var gate = new SemaphoreSlim(8);
        var rows = await Task.WhenAll(indexed.Select(async c =>
        {
            JsonNode? detail = null;
            if (worker is not null)
            {
                await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    detail = await GetJsonAsync(worker, ConversationPath(c.Agent, c.ConversationId), cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    gate.Release();
                }
            }

            var history = detail?["history"]?.AsArray();
            var runs = detail?["runs"]?.AsArray();
            return new
            {
                agent = c.Agent,
                conversationId = c.ConversationId,
                lastActivity = c.LastActivity,
                turns = history?.Count(m => (string?)m?["role"] == "user"),
                messages = history?.Count,
                runs = runs?.Count,
                lastRunStatus = runs is { Count: > 0 } ? (string?)runs[^1]?["status"] : null,
                firstMessage = history is { Count: > 0 } ? Clip((string?)history[0]?["text"], 120) : null,
            };
        })).ConfigureAwait(false);
        return Results.Ok(new { serviceId = _redis.ServiceId, worker, conversations = rows });
    }

    private async Task<IResult> ConversationAsync(string agent, string conversationId, CancellationToken cancellationToken)
    {
        if (WorkerUrl() is not { } worker)
        {
            return Results.Problem(statusCode: 503, title: "No worker", detail: "No Worker is running to answer for the conversation.");
        }

        using var response = await SendAsync(HttpMethod.Get, worker + ConversationPath(agent, conversationId), cancellationToken).ConfigureAwait(false);
        if (response is null)
        {
            return Results.Problem(statusCode: 503, title: "Worker unavailable", detail: "The Worker did not answer.");
        }

        if (!response.IsSuccessStatusCode)
        {
            return Results.Problem(statusCode: (int)response.StatusCode, title: "The Worker answered " + (int)response.StatusCode);
        }

        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false))!;
        if (body["runs"] is JsonArray runs)
        {
            foreach (var run in runs.OfType<JsonObject>())
            {
                if ((string?)run["runId"] is { } runId && IsValidName(runId))
                {
                    try
                    {
                        run["traceId"] = await _redis.TraceIdAsync(runId).ConfigureAwait(false);
                        run["streamAvailable"] = await _redis.ExistsAsync(runId).ConfigureAwait(false);
                    }
                    catch (StackExchange.Redis.RedisException)
                    {
                        run["streamAvailable"] = null;
                    }
                }
            }
        }

        body["worker"] = worker;
        return Results.Text(body.ToJsonString(), "application/json");
    }

    private async Task<IResult> ForwardAsync(HttpMethod method, string path, CancellationToken cancellationToken)
    {
        if (WorkerUrl() is not { } worker)
        {
            return Results.Problem(statusCode: 503, title: "No worker");
        }

        using var response = await SendAsync(method, worker + path, cancellationToken).ConfigureAwait(false);
        if (response is null)
        {
            return Results.Problem(statusCode: 503, title: "Worker unavailable");
        }

        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return Results.Text(text, response.Content.Headers.ContentType?.MediaType ?? "application/json", statusCode: (int)response.StatusCode);
    }

    private async Task<JsonNode?> GetJsonAsync(string worker, string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, worker + path, cancellationToken).ConfigureAwait(false);
        return response is { IsSuccessStatusCode: true }
            ? JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false))
            : null;
    }

    private async Task<HttpResponseMessage?> SendAsync(HttpMethod method, string url, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(method, url);
            return await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            return null;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private static string ConversationPath(string agent, string conversationId) => $"/agents/{Uri.EscapeDataString(agent)}/conversations/{Uri.EscapeDataString(conversationId)}";

    private static string? Clip(string? text, int length) => text is null || text.Length <= length ? text : text[..length] + "…";

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,128}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[0-9]{1,20}-[0-9]{1,20}$")]
    private static partial Regex CursorPattern();
}

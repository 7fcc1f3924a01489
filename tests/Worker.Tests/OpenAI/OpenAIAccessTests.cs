using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Worker.Api.Tests;
using OpenAI.Responses;

namespace AgentStreaming.Worker.OpenAI.Tests;

/// <summary>The API key and the rate limits cover <c>/v1</c> as every route, answering in OpenAI's error shape.</summary>
public sealed class OpenAIAccessTests(ApiFixture fixture)
{
    [Fact]
    public async Task WithoutTheKey_Answers401InOpenAIShape_TheSdksBearerKeyIsAccepted()
    {
        var baseAddress = await fixture.KeyedWorkerAsync();
        using var http = ApiFixture.Client(baseAddress, "127.0.0.82");

        using var anonymous = await http.GetAsync("/v1/responses/resp_0123456789abcdef0123456789abcdef", TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.Single().Scheme);
        var error = (await anonymous.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
#pragma warning disable OPENAI001 // The Responses client is marked experimental by the SDK.
        var client = new ResponsesClient(new ApiKeyCredential(ApiFixture.ApiKey), new ResponsesClientOptions { Endpoint = new Uri(baseAddress, "/v1") });
        var unknown = await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync("resp_0123456789abcdef0123456789abcdef"));
#pragma warning restore OPENAI001
        Assert.Equal(404, unknown.Status);
    }

    [Fact]
    public async Task CreatingResponses_OverTheClientsRunLimit_Answers429InOpenAIShapeWithRetryAfter()
    {
        var baseAddress = await fixture.KeyedWorkerAsync();
        using var http = ApiFixture.Client(baseAddress, "127.0.0.83");
        http.DefaultRequestHeaders.Add("X-Api-Key", ApiFixture.ApiKey);

        // Each counts as a run creation, refused or not (the limit is decided before the request is read).
        for (var i = 0; i < ApiFixture.KeyedRunsPerWindow; i++)
        {
            using var refused = await http.PostAsJsonAsync("/v1/responses", new { model = "NoSuchAgent", input = "Hi" }, TestRuns.Deadline());
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        }

        using var limited = await http.PostAsJsonAsync("/v1/responses", new { model = ResponseEvents.Model, input = "Hi" }, TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.True(limited.Headers.RetryAfter is not null);
        var error = (await limited.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
    }
}

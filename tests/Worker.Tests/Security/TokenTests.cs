using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Worker.Api.Tests;

namespace AgentStreaming.Worker.Security.Tests;

/// <summary>JWT bearer tokens (as an identity provider or <c>dotnet user-jwts</c> issues them) and named keys on the secured Worker.</summary>
/// <param name="fixture">The assembly's Workers.</param>
public sealed class TokenTests(ApiFixture fixture)
{
    public static TheoryData<string> BadTokens => ["expired", "wrong audience", "wrong signature", "alg none", "wrong issuer", "not a token"];

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task ABadToken_Answers401_OnTheApiAndInOpenAIShape(string flaw)
    {
        var baseAddress = await fixture.SecuredWorkerAsync();
        using var http = ApiFixture.Client(baseAddress);
        var subject = "user-" + Guid.NewGuid().ToString("N")[..8];
        var token = flaw switch
        {
            "expired" => TestTokens.Mint(subject, expires: DateTime.UtcNow.AddMinutes(-10)),
            "wrong audience" => TestTokens.Mint(subject, audience: "someone-else"),
            "wrong signature" => TestTokens.Mint(subject, key: System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            "alg none" => TestTokens.Mint(subject, unsigned: true),
            "wrong issuer" => WithIssuer(TestTokens.Mint(subject), "https://evil.example"),
            _ => "eyJhbGciOiJIUzI1NiJ9.garbage.garbage",
        };
        var credential = new Credential(subject, "jwt", token);

        using var list = await credential.GetAsync(http, "/agents/conversations");
        using var response = await credential.GetAsync(http, "/v1/responses/resp_0123456789abcdef0123456789abcdef");

        Assert.Equal(HttpStatusCode.Unauthorized, list.StatusCode);
        Assert.Equal("application/problem+json", list.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Bearer", list.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("invalid_api_key", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task AGoodToken_AndNamedKeys_AreServed_AnotherPrincipalsKeyGets404OnTheFirstsRun()
    {
        var baseAddress = await fixture.SecuredWorkerAsync();
        using var http = ApiFixture.Client(baseAddress);
        var alice = Credential.HeaderKey("alice");
        var (runId, _) = await alice.StartAsync(http, "Plan 1 day in Mechelen");

        using var asAlice = await Credential.BearerKey("alice").GetAsync(http, $"/agents/{TestRuns.Agent}/runs/{runId}");
        using var asBob = await Credential.HeaderKey("bob").GetAsync(http, $"/agents/{TestRuns.Agent}/runs/{runId}");
        using var asBobBearer = await Credential.BearerKey("bob").GetAsync(http, $"/v1/responses/resp_{runId}");
        using var asToken = await Credential.Jwt("alice").GetAsync(http, $"/agents/{TestRuns.Agent}/runs/{runId}");
        using var wrongKey = await new Credential("alice", "x-api-key", TestTokens.NamedKeys["alice"] + "x").GetAsync(http, "/agents/conversations");

        Assert.Equal(HttpStatusCode.OK, asAlice.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, asBob.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, asBobBearer.StatusCode);
        // A token whose subject is "alice" is the same principal as the key named alice.
        Assert.Equal(HttpStatusCode.OK, asToken.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.StatusCode);
        Assert.Contains("Callers authenticate with JWT bearer tokens and API keys", string.Join('\n', fixture.Workers.Select(w => w.Output)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheOpenWorker_SaysSoAtStart_AndServesEveryoneAsTheLocalAdmin()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);

        var list = await http.GetFromJsonAsync<JsonElement>("/agents/conversations", TestRuns.Deadline());

        Assert.Contains("The Worker runs OPEN", fixture.Worker.Output, StringComparison.Ordinal);
        Assert.Equal("local", list.GetProperty("principal").GetString());
        Assert.True(list.GetProperty("admin").GetBoolean());
    }

    /// <summary>Re-signs nothing: swaps the issuer in the payload, which breaks the signature as a forged token would.</summary>
    private static string WithIssuer(string token, string issuer)
    {
        var parts = token.Split('.');
        var payload = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Decode(parts[1]))!;
        var changed = payload.ToDictionary(p => p.Key, p => p.Key == "iss" ? JsonSerializer.SerializeToElement(issuer) : p.Value);
        return parts[0] + "." + Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(JsonSerializer.Serialize(changed)) + "." + parts[2];
    }
}

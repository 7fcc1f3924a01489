using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Testing;
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

    /// <summary>
    /// A token made by the real <c>dotnet user-jwts</c> (the SDK's development tool) works on a Worker configured with
    /// exactly the settings the tool wrote (<c>Authentication:Schemes:Bearer</c> in appsettings.Development.json and the
    /// user secrets), as docs/security.md says.
    /// </summary>
    [Fact]
    public async Task ATokenOfDotnetUserJwts_StartsARunAsItsUser()
    {
        var project = Directory.CreateTempSubdirectory("agentstreaming-user-jwts-");
        var secretsId = "agentstreaming-tests-" + Guid.NewGuid().ToString("N");
        var secrets = Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/root", ".microsoft", "usersecrets", secretsId);
        try
        {
            var csproj = Path.Combine(project.FullName, "app.csproj");
            await File.WriteAllTextAsync(csproj, $"""
                <Project Sdk="Microsoft.NET.Sdk.Web">
                  <PropertyGroup><TargetFramework>net10.0</TargetFramework><UserSecretsId>{secretsId}</UserSecretsId></PropertyGroup>
                </Project>
                """);
            await File.WriteAllTextAsync(Path.Combine(project.FullName, "appsettings.Development.json"), "{}");

            var token = (await RunToolAsync(project.FullName, "create", "--project", csproj, "--name", "alice", "--audience", "agentstreaming-api", "--output", "token")).Trim();
            var settings = new Dictionary<string, string?>();
            Flatten(JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(project.FullName, "appsettings.Development.json"))).RootElement, string.Empty, settings);
            Flatten(JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(secrets, "secrets.json"))).RootElement, string.Empty, settings);
            Assert.Contains("Authentication__Schemes__Bearer__SigningKeys__0__Value", settings.Keys);

            var baseAddress = await fixture.UserJwtsWorkerAsync(settings);
            using var http = ApiFixture.Client(baseAddress);
            var alice = new Credential("alice", "jwt", token);
            var (runId, _) = await alice.StartAsync(http, "Plan 1 day in Bruges");
            using var run = await alice.GetAsync(http, $"/agents/{TestRuns.Agent}/runs/{runId}");
            using var list = await alice.GetAsync(http, "/agents/conversations");
            using var anonymous = await http.GetAsync("/agents/conversations");

            Assert.Equal(HttpStatusCode.OK, run.StatusCode);
            Assert.Equal("alice", (await list.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("principal").GetString());
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }
        finally
        {
            project.Delete(recursive: true);
            if (Directory.Exists(secrets))
            {
                Directory.Delete(secrets, recursive: true);
            }
        }
    }

    /// <summary>
    /// The tool's environment: no first-run work of the SDK on a fresh machine (the HTTPS development certificate, the
    /// telemetry notice) and no MSBuild node or server that outlives the tool holding its output open.
    /// </summary>
    private static readonly Dictionary<string, string> ToolEnvironment = new()
    {
        ["DOTNET_NOLOGO"] = "1",
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_GENERATE_ASPNET_CERTIFICATE"] = "false",
        ["MSBUILDDISABLENODEREUSE"] = "1",
        ["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0",
    };

    /// <summary>Runs <c>dotnet user-jwts</c> with <paramref name="arguments"/> and returns its standard output.</summary>
    private static async Task<string> RunToolAsync(string directory, params string[] arguments)
    {
        var result = await ProcessExits.RunAsync("dotnet", ["user-jwts", .. arguments], TimeSpan.FromMinutes(2), directory, ToolEnvironment);
        Assert.True(result.ExitCode == 0, $"dotnet user-jwts {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.Stderr}\n{result.Stdout}");
        return result.Stdout;
    }

    /// <summary>Configuration JSON as environment variables (<c>A__B__0__C</c>), the way the Worker reads them.</summary>
    private static void Flatten(JsonElement element, string prefix, Dictionary<string, string?> into)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Flatten(property.Value, Join(prefix, property.Name.Replace(":", "__", StringComparison.Ordinal)), into);
                }

                break;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    Flatten(item, Join(prefix, (index++).ToString(System.Globalization.CultureInfo.InvariantCulture)), into);
                }

                break;
            default:
                into[prefix] = element.ValueKind == JsonValueKind.String ? element.GetString() : element.GetRawText();
                break;
        }

        static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "__" + name;
    }
}

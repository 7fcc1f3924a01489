using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace AgentStreaming.Worker.Security.Tests;

/// <summary>The secured Worker's credentials: JWTs minted here (as an identity provider or <c>dotnet user-jwts</c> would) and named keys.</summary>
internal static class TestTokens
{
    public const string Issuer = "agentstreaming-tests";
    public const string Audience = "agentstreaming-api";
    public const string AdminRole = "agents.admin";

    /// <summary>The principal of the named key that has the admin role.</summary>
    public const string AdminKeyPrincipal = "ops";

    public static readonly byte[] SigningKey = RandomNumberGenerator.GetBytes(32);

    public static readonly IReadOnlyDictionary<string, string> NamedKeys = new Dictionary<string, string>
    {
        ["alice"] = "alice-key-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12)),
        ["bob"] = "bob-key-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12)),
        [AdminKeyPrincipal] = "ops-key-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12)),
    };

    /// <summary>A signed token for <paramref name="subject"/>; every part can be made wrong.</summary>
    public static string Mint(
        string subject,
        string[]? roles = null,
        DateTime? expires = null,
        string audience = Audience,
        byte[]? key = null,
        bool unsigned = false)
    {
        var claims = new List<Claim> { new("sub", subject), new("unique_name", subject) };
        claims.AddRange((roles ?? []).Select(r => new Claim("roles", r)));
        var expiry = expires ?? DateTime.UtcNow.AddMinutes(30);
        var descriptor = new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity(claims),
            Issuer = Issuer,
            Audience = audience,
            NotBefore = expiry.AddHours(-1),
            IssuedAt = expiry.AddHours(-1),
            Expires = expiry,
            SigningCredentials = unsigned ? null : new SigningCredentials(new SymmetricSecurityKey(key ?? SigningKey), SecurityAlgorithms.HmacSha256),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    public static AuthenticationHeaderValue Bearer(string tokenOrKey) => new("Bearer", tokenOrKey);
}

using System.Security.Claims;
using Microsoft.Extensions.Configuration;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace AgentStreaming.AppHost;

/// <summary>
/// The local app's stand-in for an identity provider: a signing key (<c>Auth:SigningKey</c>, base64; a new random one
/// at every start by default) that the Worker trusts through the standard JWT bearer settings, and a token for the demo
/// user <see cref="DemoUser"/>, which the demo Client's runs, the demo command and the pages' links use. Nothing leaves
/// the machine; a real deployment configures its identity provider instead (docs/security.md).
/// </summary>
internal static class DevelopmentIdentity
{
    /// <summary>How long the demo token is valid.</summary>
    public static readonly TimeSpan TokenLifetime = TimeSpan.FromHours(12);

    /// <summary>The tokens' issuer (<c>iss</c>), which the Worker requires.</summary>
    public const string Issuer = "agentstreaming-apphost";

    /// <summary>The tokens' audience (<c>aud</c>), which the Worker requires.</summary>
    public const string Audience = "agentstreaming-api";

    /// <summary>The principal of the demo Client and the pages' links.</summary>
    public const string DemoUser = "demo";

    /// <summary>The signing key: <c>Auth:SigningKey</c> (base64, at least 32 bytes), else a random one.</summary>
    public static byte[] SigningKey(IConfiguration configuration)
    {
        if (configuration["Auth:SigningKey"] is not { Length: > 0 } configured)
        {
            return System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        }

        var key = new byte[configured.Length];
        return Convert.TryFromBase64String(configured, key, out var length) && length >= 32
            ? key[..length]
            : throw new DistributedApplicationException("Auth:SigningKey must be a base64 key of at least 32 bytes.");
    }

    /// <summary>The principal of the dashboard's operator commands ("Kill a replica mid-run"), which see every conversation.</summary>
    public const string Operator = "apphost-operator";

    /// <summary>The Worker's admin role (see docs/security.md).</summary>
    public const string AdminRole = "agents.admin";

    /// <summary>A token for <paramref name="subject"/> with <paramref name="roles"/>, signed with <paramref name="key"/>, as the Worker expects it.</summary>
    public static string Mint(byte[] key, string subject = DemoUser, params string[] roles)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity([new Claim("sub", subject), new Claim("unique_name", subject), .. roles.Select(r => new Claim("roles", r))]),
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + TokenLifetime,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(key), SecurityAlgorithms.HmacSha256),
        });
    }

    /// <summary>The Worker's JWT bearer settings, as <c>dotnet user-jwts</c> writes them (<c>Authentication:Schemes:Bearer</c>).</summary>
    public static IResourceBuilder<ProjectResource> WithDevelopmentIdentity(this IResourceBuilder<ProjectResource> worker, byte[] key) => worker
        .WithEnvironment("Authentication__Schemes__Bearer__ValidIssuer", Issuer)
        .WithEnvironment("Authentication__Schemes__Bearer__ValidAudiences__0", Audience)
        .WithEnvironment("Authentication__Schemes__Bearer__SigningKeys__0__Issuer", Issuer)
        .WithEnvironment("Authentication__Schemes__Bearer__SigningKeys__0__Value", Convert.ToBase64String(key));
}

using System.Security.Claims;
using Microsoft.Extensions.DependencyInjection;

namespace AgentStreaming.Worker.Security;

/// <summary>Whether JWT bearer tokens are configured (decided once, at start, from the configuration).</summary>
/// <param name="Jwt">Whether <c>Authentication:Schemes:Bearer</c> has settings.</param>
internal sealed record AgentApiAccessMode(bool Jwt);

/// <summary>Who the caller is, as the routes need it.</summary>
internal static class Caller
{
    /// <summary>
    /// The principal's name, which owns the conversations it starts: the token's subject (<c>sub</c>), else its name;
    /// a named key's principal; the one-user key's <see cref="ApiKeyAuthenticationHandler.SingleKeyPrincipal"/>;
    /// <see cref="AgentApiAccessMiddleware.LocalPrincipal"/> in the open local mode.
    /// </summary>
    public static string Owner(this HttpContext context)
        => context.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? context.User.FindFirstValue("sub") ?? context.User.Identity?.Name ?? AgentApiAccessMiddleware.LocalPrincipal;

    /// <summary>Whether the caller has the <see cref="AgentApiAuthentication.AdminRole"/> role.</summary>
    public static bool IsAdmin(this HttpContext context) => context.User.IsInRole(AgentApiAuthentication.AdminRole);

    /// <summary>
    /// Whether the caller may see what <paramref name="owner"/> started: its own, or anything for an admin. Whatever
    /// the caller may not see is answered exactly as what does not exist.
    /// </summary>
    public static bool CanSee(this HttpContext context, string? owner)
        => context.IsAdmin() || (owner is not null && string.Equals(owner, context.Owner(), StringComparison.Ordinal));
}

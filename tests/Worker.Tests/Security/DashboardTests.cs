using System.Net;
using AgentStreaming.Worker.Api.Tests;

namespace AgentStreaming.Worker.Security.Tests;

/// <summary>The Orleans dashboard (on in the secured Worker): admins only, and no 500 or .NET exception text on odd input.</summary>
public sealed class DashboardTests(ApiFixture fixture)
{
    [Fact]
    public async Task TheDashboard_IsForAdminsOnly()
    {
        var baseAddress = await fixture.SecuredWorkerAsync();
        using var http = ApiFixture.Client(baseAddress);

        using var anonymous = await http.GetAsync("/dashboard/", TestRuns.Deadline());
        using var user = await Credential.HeaderKey("alice").GetAsync(http, "/dashboard/");
        using var userData = await Credential.Jwt("user-dash").GetAsync(http, "/dashboard/DashboardCounters");
        using var admin = await Credential.HeaderKey(TestTokens.AdminKeyPrincipal).GetAsync(http, "/dashboard/");
        using var adminToken = await Credential.Jwt("admin-dash", TestTokens.AdminRole).GetAsync(http, "/dashboard/DashboardCounters");

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, user.StatusCode);
        Assert.Equal("application/problem+json", user.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Forbidden, userData.StatusCode);
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        Assert.Equal(HttpStatusCode.OK, adminToken.StatusCode);
    }

    [Theory]
    [InlineData("/dashboard/SiloProperties/x")]
    [InlineData("/dashboard/SiloCounters/%7B%7D")]
    [InlineData("/dashboard/GrainState")]
    [InlineData("/dashboard/GrainState?grainId=x&grainType=y")]
    [InlineData("/dashboard/HistoricalStats/x")]
    [InlineData("/dashboard/no-such-route")]
    public async Task OddDashboardRoutes_AnswerProblemDetails_NeverA500OrExceptionText(string url)
    {
        var baseAddress = await fixture.SecuredWorkerAsync();
        using var http = ApiFixture.Client(baseAddress);

        using var response = await Credential.HeaderKey(TestTokens.AdminKeyPrincipal).GetAsync(http, url);
        var body = await response.Content.ReadAsStringAsync(TestRuns.Deadline());

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("cannot be null", body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Exception", body, StringComparison.Ordinal);
        Assert.DoesNotContain("Parameter", body, StringComparison.Ordinal);
    }
}

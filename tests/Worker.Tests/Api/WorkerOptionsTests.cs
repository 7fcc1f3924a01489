using AgentStreaming.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>The API's and the agents page's options: bad values stop the host at start, naming the setting.</summary>
public sealed class WorkerOptionsTests
{
    [Theory]
    [InlineData("AgentApi:ApiKey", "short", "AgentApi:ApiKey must be at least 16 characters when set.")]
    [InlineData("AgentApi:ApiKeys:alice", "short", "AgentApi:ApiKeys:alice must be at least 16 characters.")]
    [InlineData("AgentApi:MaxWait", "00:00:00", "AgentApi:MaxWait must be positive.")]
    [InlineData("AgentApi:CorsOrigins:0", "example.com", "AgentApi:CorsOrigins entries must be origins such as 'https://example.com' (was 'example.com').")]
    [InlineData("AgentPages:MaxConversations", "0", "AgentPages:MaxConversations must be between 1 and 1000.")]
    [InlineData("AgentPages:DashboardUrl", "dashboard", "AgentPages:DashboardUrl must be an absolute URL.")]
    public async Task AddAgentApiAndPages_BadSetting_FailsAtHostStart(string key, string value, string message)
    {
        var error = await TestHosts.StartFailsAsync(Register, new KeyValuePair<string, string?>(key, value));

        Assert.Contains(message, error.Failures);
    }

    [Fact]
    public void AddAgentApi_CorsOrigins_OpenThePolicyToThemOnly()
    {
        using var open = Build(new("AgentApi:CorsOrigins:0", "https://app.example"), new("AgentApi:CorsOrigins:1", "http://localhost:5173"));
        using var closed = Build();

        var policy = Policy(open);

        Assert.NotNull(policy);
        Assert.Equal(["https://app.example", "http://localhost:5173"], policy.Origins);
        Assert.Null(Policy(closed));
    }

    private static CorsPolicy? Policy(IHost host)
        => host.Services.GetRequiredService<IOptions<CorsOptions>>().Value.GetPolicy(AgentApiServiceCollectionExtensions.CorsPolicy);

    private static IHost Build(params KeyValuePair<string, string?>[] settings) => TestHosts.Build(Register, settings);

    private static void Register(HostApplicationBuilder builder) => builder.Services.AddAgentApi().AddAgentPages();
}

using AgentStreaming.Testing;
using AgentStreaming.Worker.Models;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.Tests;

public sealed class ChatModelSelectionTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build();

    private static ChatModelSelection Resolve(params (string Key, string Value)[] values) =>
        ChatModelSelection.FromConfiguration(Config(values));

    [Fact]
    public void Resolve_NothingSet_SelectsOfflineDemo()
    {
        var selection = Resolve();

        Assert.Equal(ChatModelProvider.OfflineDemo, selection.Provider);
        Assert.Contains("offline demo model", selection.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void AddTravelPlannerChatClient_NothingSet_RegistersOfflineDemoChatClient()
    {
        var services = new ServiceCollection().AddSingleton(Config()).AddTravelPlannerChatClient();
        using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<IChatClient>();

        Assert.NotNull(client.GetService<OfflineDemoChatClient>());
        Assert.Equal(ChatModelProvider.OfflineDemo, provider.GetRequiredService<ChatModelSelection>().Provider);
    }

    [Fact]
    public void AddTravelPlannerChatClient_OfflineDemoModelSection_BindsOptions()
    {
        var services = new ServiceCollection()
            .AddSingleton(Config(("OfflineDemoModel:TokensPerSecond", "0"), ("OfflineDemoModel:FailAfterTokens", "7")))
            .AddTravelPlannerChatClient();
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<OfflineDemoModelOptions>>().Value;

        Assert.Equal(0, options.TokensPerSecond);
        Assert.Equal(7, options.FailAfterTokens);
    }

    [Fact]
    public void Resolve_AzureWithKey_SelectsAzureAndNeverShowsTheKey()
    {
        var selection = Resolve(
            ("AZURE_OPENAI_ENDPOINT", "https://contoso.openai.azure.com/"),
            ("AZURE_OPENAI_DEPLOYMENT_NAME", "gpt-4o"),
            ("AZURE_OPENAI_API_KEY", "super-secret-key"));

        Assert.Equal(ChatModelProvider.AzureOpenAI, selection.Provider);
        Assert.Equal("gpt-4o", selection.Model);
        Assert.Equal("Azure OpenAI deployment 'gpt-4o' at https://contoso.openai.azure.com/ (API key)", selection.Description);
        Assert.DoesNotContain("super-secret-key", selection.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_AzureWithoutKey_UsesDefaultAzureCredential()
    {
        var selection = Resolve(
            ("AZURE_OPENAI_ENDPOINT", "https://contoso.openai.azure.com/"),
            ("AZURE_OPENAI_DEPLOYMENT_NAME", "gpt-4o"));

        Assert.Equal("DefaultAzureCredential", selection.Authentication);
    }

    [Fact]
    public void Resolve_OpenAICompatibleServer_SelectsOpenAIAndRedactsTheUrl()
    {
        var selection = Resolve(
            ("OPENAI_BASE_URL", "http://user:pw@localhost:11434/v1?token=abc"),
            ("OPENAI_MODEL", "llama3.1"));

        Assert.Equal(ChatModelProvider.OpenAICompatible, selection.Provider);
        Assert.Equal("OpenAI-compatible model 'llama3.1' at http://localhost:11434/v1 (no API key)", selection.Description);
    }

    [Fact]
    public void Resolve_OpenAIKeyAndModelOnly_UsesApiOpenAIDotCom()
    {
        var selection = Resolve(("OPENAI_API_KEY", "sk-secret"), ("OPENAI_MODEL", "gpt-4o-mini"));

        Assert.Equal(new Uri("https://api.openai.com/v1"), selection.Endpoint);
        Assert.DoesNotContain("sk-secret", selection.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("AZURE_OPENAI_ENDPOINT", "https://contoso.openai.azure.com/", "AZURE_OPENAI_DEPLOYMENT_NAME")]
    [InlineData("AZURE_OPENAI_DEPLOYMENT_NAME", "gpt-4o", "AZURE_OPENAI_ENDPOINT")]
    [InlineData("AZURE_OPENAI_API_KEY", "secret-value", "AZURE_OPENAI_ENDPOINT")]
    [InlineData("OPENAI_BASE_URL", "http://localhost:11434/v1", "OPENAI_MODEL")]
    [InlineData("OPENAI_API_KEY", "secret-value", "OPENAI_MODEL")]
    [InlineData("OPENAI_MODEL", "llama3.1", "OPENAI_BASE_URL")]
    public void Resolve_HalfConfigured_ThrowsNamingTheMissingSetting(string key, string value, string missing)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Resolve((key, value)));

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_BothProviders_ThrowsAskingForOne()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Resolve(
            ("AZURE_OPENAI_ENDPOINT", "https://contoso.openai.azure.com/"),
            ("AZURE_OPENAI_DEPLOYMENT_NAME", "gpt-4o"),
            ("OPENAI_API_KEY", "secret-value")));

        Assert.Contains("one model provider", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_EndpointNotAUrl_ThrowsWithoutEchoingTheValue()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Resolve(
            ("AZURE_OPENAI_ENDPOINT", "secret-value"),
            ("AZURE_OPENAI_DEPLOYMENT_NAME", "gpt-4o")));

        Assert.Contains("AZURE_OPENAI_ENDPOINT", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-value", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("AZURE_OPENAI_ENDPOINT", "https://contoso.openai.azure.com/", "AZURE_OPENAI_DEPLOYMENT_NAME")]
    [InlineData("OfflineDemoModel:TokensPerSecond", "-3", "TokensPerSecond")]
    public async Task AddTravelPlannerChatClient_BadSetting_FailsAtHostStart(string key, string value, string named)
    {
        var error = await TestHosts.StartFailsAsync(b => b.Services.AddTravelPlannerChatClient(), new KeyValuePair<string, string?>(key, value));

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }
}

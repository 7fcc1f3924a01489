using Microsoft.Extensions.Configuration;

namespace AgentStreaming.Worker.Models;

/// <summary>
/// Which chat model the Worker talks to, bound from the configuration root under the environment variable names
/// of ARCHITECTURE.md §6. Azure OpenAI when <c>AZURE_OPENAI_ENDPOINT</c> is set, an OpenAI-compatible server when
/// any <c>OPENAI_*</c> value is set, otherwise the offline demo model.
/// </summary>
public sealed class ChatModelOptions
{
    [ConfigurationKeyName("AZURE_OPENAI_ENDPOINT")]
    public string? AzureOpenAIEndpoint { get; set; }

    [ConfigurationKeyName("AZURE_OPENAI_DEPLOYMENT_NAME")]
    public string? AzureOpenAIDeploymentName { get; set; }

    /// <summary>API key for Azure OpenAI; when absent, <c>DefaultAzureCredential</c> is used.</summary>
    [ConfigurationKeyName("AZURE_OPENAI_API_KEY")]
    public string? AzureOpenAIApiKey { get; set; }

    /// <summary>Base URL of an OpenAI-compatible server (Ollama, vLLM, ...), e.g. <c>http://localhost:11434/v1</c>.</summary>
    [ConfigurationKeyName("OPENAI_BASE_URL")]
    public string? OpenAIBaseUrl { get; set; }

    [ConfigurationKeyName("OPENAI_API_KEY")]
    public string? OpenAIApiKey { get; set; }

    [ConfigurationKeyName("OPENAI_MODEL")]
    public string? OpenAIModel { get; set; }
}

/// <summary>Options of the offline demo model, bound from the <c>OfflineDemoModel</c> section.</summary>
public sealed class OfflineDemoModelOptions
{
    public const string SectionName = "OfflineDemoModel";

    /// <summary>How fast the itinerary is streamed, in tokens per second. Default 40; 0 streams without delay.</summary>
    public double TokensPerSecond { get; set; } = 40;

    /// <summary>
    /// Failure injection: when set, the model throws after streaming this many tokens of an itinerary.
    /// Default: never fails.
    /// </summary>
    public int? FailAfterTokens { get; set; }
}

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Worker.Models;

/// <summary>
/// Which chat model the Worker talks to, bound from the configuration root under the environment variable names
/// of ARCHITECTURE.md §6. Azure OpenAI when <c>AZURE_OPENAI_ENDPOINT</c> is set, an OpenAI-compatible server when
/// any <c>OPENAI_*</c> value is set, otherwise the offline demo model.
/// </summary>
public sealed class ChatModelOptions
{
    /// <summary>The Azure OpenAI resource, e.g. <c>https://contoso.openai.azure.com/</c>. Default: none.</summary>
    [ConfigurationKeyName("AZURE_OPENAI_ENDPOINT")]
    public string? AzureOpenAIEndpoint { get; set; }

    /// <summary>The Azure OpenAI deployment to call; required with the endpoint. Default: none.</summary>
    [ConfigurationKeyName("AZURE_OPENAI_DEPLOYMENT_NAME")]
    public string? AzureOpenAIDeploymentName { get; set; }

    /// <summary>API key for Azure OpenAI; when absent, <c>DefaultAzureCredential</c> is used. Never logged.</summary>
    [ConfigurationKeyName("AZURE_OPENAI_API_KEY")]
    public string? AzureOpenAIApiKey { get; set; }

    /// <summary>Base URL of an OpenAI-compatible server (Ollama, vLLM, ...), e.g. <c>http://localhost:11434/v1</c>.</summary>
    [ConfigurationKeyName("OPENAI_BASE_URL")]
    public string? OpenAIBaseUrl { get; set; }

    /// <summary>API key for the OpenAI-compatible server. Default: none. Never logged.</summary>
    [ConfigurationKeyName("OPENAI_API_KEY")]
    public string? OpenAIApiKey { get; set; }

    /// <summary>The model to ask the OpenAI-compatible server for; required with any <c>OPENAI_*</c> value. Default: none.</summary>
    [ConfigurationKeyName("OPENAI_MODEL")]
    public string? OpenAIModel { get; set; }
}

/// <summary>Validates <see cref="ChatModelOptions"/> when the host starts: a provider is configured wholly or not at all.</summary>
internal sealed class ChatModelOptionsValidator : IValidateOptions<ChatModelOptions>
{
    public ValidateOptionsResult Validate(string? name, ChatModelOptions options)
    {
        try
        {
            _ = ChatModelSelection.Resolve(options);
            return ValidateOptionsResult.Success;
        }
        catch (InvalidOperationException e)
        {
            return ValidateOptionsResult.Fail(e.Message);
        }
    }
}

/// <summary>Options of the offline demo model, bound from the <c>OfflineDemoModel</c> section.</summary>
public sealed class OfflineDemoModelOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "OfflineDemoModel";

    /// <summary>How fast the itinerary is streamed, in tokens per second. Default 40; 0 streams without delay.</summary>
    public double TokensPerSecond { get; set; } = 40;

    /// <summary>
    /// Failure injection: when set, the model throws after streaming this many tokens of an itinerary.
    /// Default: never fails.
    /// </summary>
    public int? FailAfterTokens { get; set; }
}

/// <summary>Validates <see cref="OfflineDemoModelOptions"/> when the host starts.</summary>
internal sealed class OfflineDemoModelOptionsValidator : IValidateOptions<OfflineDemoModelOptions>
{
    public ValidateOptionsResult Validate(string? name, OfflineDemoModelOptions options)
    {
        var failures = new List<string>();
        if (!(options.TokensPerSecond >= 0 && double.IsFinite(options.TokensPerSecond)))
        {
            failures.Add("OfflineDemoModel:TokensPerSecond must be 0 or more.");
        }

        if (options.FailAfterTokens is < 0)
        {
            failures.Add("OfflineDemoModel:FailAfterTokens must be 0 or more.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

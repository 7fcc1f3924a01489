namespace AgentStreaming.Worker.Models;

/// <summary>The kind of chat model the Worker uses.</summary>
public enum ChatModelProvider
{
    OfflineDemo,
    AzureOpenAI,
    OpenAICompatible,
}

/// <summary>
/// The chat model chosen from <see cref="ChatModelOptions"/>, without secrets: safe to log.
/// </summary>
public sealed record ChatModelSelection
{
    private static readonly Uri OpenAIDefaultEndpoint = new("https://api.openai.com/v1");

    private ChatModelSelection(ChatModelProvider provider, Uri? endpoint, string? model, string authentication)
    {
        Provider = provider;
        Endpoint = endpoint;
        Model = model;
        Authentication = authentication;
    }

    public ChatModelProvider Provider { get; }

    /// <summary>The service endpoint; null for the offline demo model.</summary>
    public Uri? Endpoint { get; }

    /// <summary>The Azure OpenAI deployment name or the OpenAI model name; null for the offline demo model.</summary>
    public string? Model { get; }

    /// <summary>How the Worker authenticates: <c>API key</c>, <c>DefaultAzureCredential</c>, <c>no API key</c> or <c>none</c>.</summary>
    public string Authentication { get; }

    /// <summary>One line naming the provider, endpoint, model and kind of authentication; never contains a secret.</summary>
    public string Description => Provider switch
    {
        ChatModelProvider.AzureOpenAI =>
            $"Azure OpenAI deployment '{Model}' at {Redact(Endpoint!)} ({Authentication})",
        ChatModelProvider.OpenAICompatible =>
            $"OpenAI-compatible model '{Model}' at {Redact(Endpoint!)} ({Authentication})",
        _ => "offline demo model (no network; set AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_DEPLOYMENT_NAME, "
            + "or OPENAI_BASE_URL/OPENAI_API_KEY + OPENAI_MODEL, to use a real model)",
    };

    public override string ToString() => Description;

    /// <summary>Chooses the chat model from the configuration root (the names of <see cref="ChatModelOptions"/>).</summary>
    /// <exception cref="InvalidOperationException">A provider is only partly configured, or both are.</exception>
    public static ChatModelSelection FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return Resolve(configuration.Get<ChatModelOptions>() ?? new ChatModelOptions());
    }

    /// <summary>Chooses the chat model from <paramref name="options"/>.</summary>
    /// <exception cref="InvalidOperationException">A provider is only partly configured, or both are.</exception>
    public static ChatModelSelection Resolve(ChatModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        var azureEndpoint = Trimmed(options.AzureOpenAIEndpoint);
        var azureDeployment = Trimmed(options.AzureOpenAIDeploymentName);
        var azureKey = Trimmed(options.AzureOpenAIApiKey);
        var openAIBaseUrl = Trimmed(options.OpenAIBaseUrl);
        var openAIKey = Trimmed(options.OpenAIApiKey);
        var openAIModel = Trimmed(options.OpenAIModel);

        var azureSet = azureEndpoint is not null || azureDeployment is not null || azureKey is not null;
        var openAISet = openAIBaseUrl is not null || openAIKey is not null || openAIModel is not null;

        if (azureSet && openAISet)
        {
            throw new InvalidOperationException(
                $"Both Azure OpenAI ({Names(("AZURE_OPENAI_ENDPOINT", azureEndpoint), ("AZURE_OPENAI_DEPLOYMENT_NAME", azureDeployment), ("AZURE_OPENAI_API_KEY", azureKey))}) "
                + $"and OpenAI ({Names(("OPENAI_BASE_URL", openAIBaseUrl), ("OPENAI_API_KEY", openAIKey), ("OPENAI_MODEL", openAIModel))}) "
                + "settings are present. Configure one model provider only.");
        }

        if (azureSet)
        {
            if (azureEndpoint is null)
            {
                throw new InvalidOperationException(
                    "AZURE_OPENAI_ENDPOINT is not set, but other AZURE_OPENAI_* settings are. "
                    + "Set AZURE_OPENAI_ENDPOINT (e.g. https://<resource>.openai.azure.com/) and AZURE_OPENAI_DEPLOYMENT_NAME.");
            }

            var endpoint = ParseHttpUri(azureEndpoint, "AZURE_OPENAI_ENDPOINT");
            if (azureDeployment is null)
            {
                throw new InvalidOperationException(
                    "AZURE_OPENAI_ENDPOINT is set but AZURE_OPENAI_DEPLOYMENT_NAME is not. "
                    + "Set AZURE_OPENAI_DEPLOYMENT_NAME to the name of the model deployment to use.");
            }

            return new ChatModelSelection(
                ChatModelProvider.AzureOpenAI,
                endpoint,
                azureDeployment,
                azureKey is null ? "DefaultAzureCredential" : "API key");
        }

        if (openAISet)
        {
            if (openAIModel is null)
            {
                throw new InvalidOperationException(
                    $"{NamesAreSet(("OPENAI_BASE_URL", openAIBaseUrl), ("OPENAI_API_KEY", openAIKey))} but OPENAI_MODEL is not. "
                    + "Set OPENAI_MODEL to the model name the server serves (e.g. 'llama3.1' for Ollama).");
            }

            if (openAIBaseUrl is null && openAIKey is null)
            {
                throw new InvalidOperationException(
                    "OPENAI_MODEL is set but neither OPENAI_BASE_URL nor OPENAI_API_KEY is. Set OPENAI_BASE_URL for an "
                    + "OpenAI-compatible server (e.g. http://localhost:11434/v1), or OPENAI_API_KEY for api.openai.com.");
            }

            var endpoint = openAIBaseUrl is null ? OpenAIDefaultEndpoint : ParseHttpUri(openAIBaseUrl, "OPENAI_BASE_URL");
            return new ChatModelSelection(
                ChatModelProvider.OpenAICompatible,
                endpoint,
                openAIModel,
                openAIKey is null ? "no API key" : "API key");
        }

        return new ChatModelSelection(ChatModelProvider.OfflineDemo, null, null, "none");
    }

    private static string? Trimmed(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static string Names(params (string Name, string? Value)[] settings) =>
        string.Join(", ", settings.Where(s => s.Value is not null).Select(s => s.Name));

    private static string NamesAreSet(params (string Name, string? Value)[] settings) =>
        settings.Count(s => s.Value is not null) == 1 ? $"{Names(settings)} is set" : $"{Names(settings)} are set";

    private static Uri ParseHttpUri(string value, string name)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            // The value itself is not echoed: a mistyped setting may hold a key.
            throw new InvalidOperationException($"{name} is not an absolute http(s) URL.");
        }

        return uri;
    }

    private static string Redact(Uri uri)
    {
        var builder = new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty, Query = string.Empty, Fragment = string.Empty };
        return builder.Uri.ToString();
    }
}

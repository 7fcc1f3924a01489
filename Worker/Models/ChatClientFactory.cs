using System.ClientModel;
using Azure.AI.OpenAI;
using Azure.Identity;
using Microsoft.Extensions.AI;
using OpenAI;

namespace AgentStreaming.Worker.Models;

/// <summary>Creates the <see cref="IChatClient"/> for a <see cref="ChatModelSelection"/>.</summary>
public static class ChatClientFactory
{
    // OpenAI-compatible servers such as Ollama ignore the key, but the OpenAI SDK requires one.
    private const string PlaceholderApiKey = "no-api-key";

    /// <summary>Creates the chat client the selection names. The client is not decorated (no function invocation).</summary>
    public static IChatClient Create(
        ChatModelSelection selection,
        ChatModelOptions options,
        OfflineDemoModelOptions? offlineOptions = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(selection);
        ArgumentNullException.ThrowIfNull(options);

        switch (selection.Provider)
        {
            case ChatModelProvider.AzureOpenAI:
                var azureKey = string.IsNullOrWhiteSpace(options.AzureOpenAIApiKey) ? null : options.AzureOpenAIApiKey.Trim();
                var azureClient = azureKey is null
                    ? new AzureOpenAIClient(selection.Endpoint!, new DefaultAzureCredential())
                    : new AzureOpenAIClient(selection.Endpoint!, new ApiKeyCredential(azureKey));
                return azureClient.GetChatClient(selection.Model!).AsIChatClient();

            case ChatModelProvider.OpenAICompatible:
                var openAIKey = string.IsNullOrWhiteSpace(options.OpenAIApiKey) ? PlaceholderApiKey : options.OpenAIApiKey.Trim();
                var openAIClient = new OpenAIClient(
                    new ApiKeyCredential(openAIKey),
                    new OpenAIClientOptions { Endpoint = selection.Endpoint });
                return openAIClient.GetChatClient(selection.Model!).AsIChatClient();

            default:
                return new OfflineDemoChatClient(offlineOptions, timeProvider);
        }
    }
}

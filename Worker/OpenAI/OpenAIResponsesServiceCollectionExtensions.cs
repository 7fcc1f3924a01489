using AgentStreaming.Worker.OpenAI;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the OpenAI Responses adapter.</summary>
public static class OpenAIResponsesServiceCollectionExtensions
{
    /// <summary>
    /// Registers what <c>app.MapOpenAIResponses()</c> needs. It shares the HTTP API's options and middleware: register
    /// <c>AddAgentApi</c> too (authentication, rate limits and the exception handler then cover <c>/v1</c>, in OpenAI's error shape).
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddOpenAIResponses(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<ResponseStreamer>();
        return services;
    }
}

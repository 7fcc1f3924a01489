using AgentStreaming.Worker.Models;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the TravelPlanner's chat model.</summary>
public static class ChatModelServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ChatModelOptions"/> (bound from the root of the host's configuration: <c>AZURE_OPENAI_*</c>,
    /// <c>OPENAI_*</c>), <see cref="OfflineDemoModelOptions"/> (section <c>OfflineDemoModel</c>), the resulting
    /// <see cref="ChatModelSelection"/> and an <see cref="IChatClient"/> for it, decorated with logging and
    /// OpenTelemetry. Both options are validated at start, so a half-configured provider stops the host with a
    /// message naming the missing setting.
    /// </summary>
    public static IServiceCollection AddTravelPlannerChatClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);

        services.AddOptions<ChatModelOptions>().BindConfiguration(string.Empty).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ChatModelOptions>, ChatModelOptionsValidator>());
        services.AddOptions<OfflineDemoModelOptions>().BindConfiguration(OfflineDemoModelOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OfflineDemoModelOptions>, OfflineDemoModelOptionsValidator>());

        services.AddLogging();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => ChatModelSelection.Resolve(sp.GetRequiredService<IOptions<ChatModelOptions>>().Value));

        services.AddChatClient(sp => ChatClientFactory.Create(
                sp.GetRequiredService<ChatModelSelection>(),
                sp.GetRequiredService<IOptions<ChatModelOptions>>().Value,
                sp.GetRequiredService<IOptions<OfflineDemoModelOptions>>().Value,
                sp.GetRequiredService<TimeProvider>()))
            .UseLogging()
            .UseOpenTelemetry();

        return services;
    }
}

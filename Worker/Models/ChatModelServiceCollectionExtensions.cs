using AgentStreaming.Worker.Models;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the TravelPlanner's chat model.</summary>
public static class ChatModelServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ChatModelOptions"/> (bound from the configuration root: <c>AZURE_OPENAI_*</c>,
    /// <c>OPENAI_*</c>), <see cref="OfflineDemoModelOptions"/> (section <c>OfflineDemoModel</c>), the resulting
    /// <see cref="ChatModelSelection"/> and an <see cref="IChatClient"/> for it, decorated with logging and
    /// OpenTelemetry. Both options are validated at start, so a half-configured provider stops the host with a
    /// message naming the missing setting.
    /// </summary>
    public static IServiceCollection AddTravelPlannerChatClient(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<ChatModelOptions>().Bind(configuration).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ChatModelOptions>, ChatModelOptionsValidator>());

        services.AddOptions<OfflineDemoModelOptions>()
            .Bind(configuration.GetSection(OfflineDemoModelOptions.SectionName))
            .Validate(o => o.TokensPerSecond >= 0 && double.IsFinite(o.TokensPerSecond), "OfflineDemoModel:TokensPerSecond must be 0 or more.")
            .Validate(o => o.FailAfterTokens is null or >= 0, "OfflineDemoModel:FailAfterTokens must be 0 or more.")
            .ValidateOnStart();

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

    private sealed class ChatModelOptionsValidator : IValidateOptions<ChatModelOptions>
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
}

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentStreaming.Testing;

/// <summary>
/// Hosts for options tests: an empty Generic Host (no default configuration sources, no logging providers) with the
/// settings and registrations of the test, started the way the real hosts start, so that options validated at start
/// fail as they would in production.
/// </summary>
public static class TestHosts
{
    /// <summary>Builds a host with <paramref name="settings"/> as its only configuration.</summary>
    /// <param name="register">Registers what the test checks (e.g. <c>b.Services.AddAgentApi()</c>).</param>
    /// <param name="settings">Configuration keys and values.</param>
    /// <returns>The host, not started.</returns>
    public static IHost Build(Action<HostApplicationBuilder> register, params IEnumerable<KeyValuePair<string, string?>> settings)
    {
        ArgumentNullException.ThrowIfNull(register);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        register(builder);
        return builder.Build();
    }

    /// <summary>Starts <paramref name="host"/>, which must fail, and disposes it: returns the options validation failure it stopped with.</summary>
    /// <param name="host">The host (disposed here).</param>
    /// <returns>The failure (its <see cref="OptionsValidationException.Failures"/> name the settings).</returns>
    public static async Task<OptionsValidationException> StartFailsAsync(IHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        using var owned = host;
        try
        {
            await owned.StartAsync().ConfigureAwait(false);
        }
        catch (OptionsValidationException failure)
        {
            return failure;
        }

        throw new InvalidOperationException("The host started, but its options should have stopped it.");
    }

    /// <summary>Builds a host as <see cref="Build"/> does and starts it, which must fail: returns the options validation failure.</summary>
    /// <param name="register">Registers what the test checks.</param>
    /// <param name="settings">Configuration keys and values.</param>
    /// <returns>The failure (its <see cref="OptionsValidationException.Failures"/> name the settings).</returns>
    public static async Task<OptionsValidationException> StartFailsAsync(Action<HostApplicationBuilder> register, params IEnumerable<KeyValuePair<string, string?>> settings)
    {
        return await StartFailsAsync(Build(register, settings)).ConfigureAwait(false);
    }
}

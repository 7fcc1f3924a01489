using System.Diagnostics;
using System.Text;
using AgentStreaming.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.AppHost.Tests;

/// <summary>
/// The real AppHost started through <c>Aspire.Hosting.Testing</c>: DCP, redis-server (its own temp data folder), the
/// Worker replicas and, when asked, the demo Client and the Aspire dashboard. Disposing it stops all of them and
/// deletes the data folder.
/// </summary>
internal sealed class AspireSystem : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    /// <summary>How long disposing the app (stopping DCP, Redis, the Workers) may take.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(90);

    /// <summary>The development signing key the tests give the AppHost, so they can sign in as its demo user.</summary>
    private static readonly byte[] SigningKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);

    /// <summary>A token of the AppHost's demo user (the demo Client's principal), as the AppHost's page links carry it.</summary>
    public static string DemoToken { get; } = DevelopmentIdentity.Mint(SigningKey);

    private AspireSystem(DistributedApplication app, string dataDirectory)
    {
        App = app;
        DataDirectory = dataDirectory;
    }

    public DistributedApplication App { get; }

    public string DataDirectory { get; }

    public static async Task<AspireSystem> StartAsync(int workerReplicas = 1, bool demoClient = false, bool dashboard = false, Action<IDistributedApplicationTestingBuilder>? configure = null, IEnumerable<string>? moreArgs = null)
    {
        var data = Directory.CreateTempSubdirectory("agent-streaming-aspire-").FullName;
        string[] args =
        [
            $"--Redis:DataDirectory={data}",
            $"--Worker:Replicas={workerReplicas}",
            $"--Client:Enabled={demoClient}",
            $"--Auth:SigningKey={Convert.ToBase64String(SigningKey)}",
            // As the http launch profile: the pages without a login, OTLP and the telemetry API with keys.
            "--Dashboard:AllowAnonymous=true",
            .. moreArgs ?? [],
        ];
        using var cts = new CancellationTokenSource(StartTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            new DistributedApplicationTestingBuilderOptions { EnableDashboard = dashboard }, args, cts.Token);
        builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
        configure?.Invoke(builder);
        var app = await builder.BuildAsync(cts.Token);
        try
        {
            await app.StartAsync(cts.Token);
            await app.ResourceNotifications.WaitForResourceHealthyAsync("worker", cts.Token);
            return new AspireSystem(app, data);
        }
        catch (OperationCanceledException ex) when (cts.IsCancellationRequested)
        {
            await StopAsync(app, data);
            throw new TimeoutException($"The Aspire app did not start with a healthy worker within {StartTimeout}.", ex);
        }
        catch
        {
            await StopAsync(app, data);
            throw;
        }
    }

    public async Task<string> RedisAsync()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await App.GetConnectionStringAsync("redis", deadline.Token) ?? throw new InvalidOperationException("No redis connection string.");
    }

    /// <summary>An HTTP client of the Worker, signed in as the demo user.</summary>
    public HttpClient Worker()
    {
        var http = App.CreateHttpClient("worker", "http");
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", DemoToken);
        return http;
    }

    /// <summary>Waits until a resource has exited and returns its exit code.</summary>
    public async Task<int?> WaitForExitAsync(string resource, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            var exited = await App.ResourceNotifications.WaitForResourceAsync(
                resource, e => e.Snapshot.State?.Text is "Finished" or "Exited" or "FailedToStart", cts.Token);
            return exited.Snapshot.ExitCode;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"{resource} did not exit within {timeout}. Its console:\n{await ConsoleAsync(resource, timeout: TimeSpan.FromSeconds(2))}");
        }
    }

    /// <summary>What a resource has written to its console so far.</summary>
    public async Task<string> ConsoleAsync(string resource, Func<string, bool>? until = null, TimeSpan? timeout = null)
    {
        var loggers = App.Services.GetRequiredService<ResourceLoggerService>();
        var text = new StringBuilder();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        // Logs are kept per instance (client-xxxx), not per resource name.
        var instance = (await App.ResourceNotifications.WaitForResourceAsync(resource, _ => true, cts.Token)).ResourceId;
        try
        {
            await foreach (var batch in loggers.WatchAsync(instance).WithCancellation(cts.Token))
            {
                foreach (var line in batch)
                {
                    text.AppendLine(line.Content);
                }

                if (until?.Invoke(text.ToString()) == true)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            // The backlog was read; nothing more came.
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync() => await StopAsync(App, DataDirectory);

    /// <summary>
    /// Disposes the app (DCP stops its resources) within <see cref="StopTimeout"/>; past it, kills what the app started
    /// and fails naming those processes. Deletes the data folder either way.
    /// </summary>
    private static async Task StopAsync(DistributedApplication app, string dataDirectory)
    {
        try
        {
            await app.DisposeAsync().AsTask().WaitAsync(StopTimeout);
        }
        catch (TimeoutException)
        {
            var left = ProcessTable.OwnAppProcesses(dataDirectory);
            var described = ProcessTable.Describe(left);
            foreach (var pid in left)
            {
                ProcessExits.Kill(pid);
            }

            throw new TimeoutException($"The Aspire app did not stop within {StopTimeout}; killed what it had started:\n{described}");
        }
        finally
        {
            TryDelete(dataDirectory);
        }
    }

    public static Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe)
        => Poll.UntilAsync(condition, timeout, describe, TimeSpan.FromMilliseconds(200));

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.DurableAgents.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>
/// The API's exception handler in a test host: the API's services and middleware (<c>AddAgentApi</c>) on real Kestrel,
/// with a route of the test's that throws. The product has no such route.
/// </summary>
public sealed class ExceptionHandlerTests
{
    [Fact]
    public async Task UnexpectedException_Answers500ProblemWithAnErrorId_AndNoInternalText()
    {
        await using var host = await TestHost.StartAsync(() => throw new InvalidOperationException("Internal detail that must stay in the log: connection string redis://secret@db"));

        using var response = await host.Http.GetAsync("/throws");

        var problem = await ProblemAsync(response, HttpStatusCode.InternalServerError);
        var body = problem.GetRawText();
        Assert.DoesNotContain("secret", body, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException", body, StringComparison.Ordinal);
        var errorId = problem.GetProperty("errorId").GetString()!;
        Assert.Contains(errorId, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        // The details stay in the log, under the same id.
        Assert.Contains(host.Logs, l => l.Contains(errorId, StringComparison.Ordinal) && l.Contains("secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StoreUnavailable_Answers503WithRetryAfter()
    {
        await using var host = await TestHost.StartAsync(() => throw new DurableAgentsUnavailableException("Redis did not answer.", DurableAgentsUnavailableCause.Redis, null));

        using var response = await host.Http.GetAsync("/throws");

        var problem = await ProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After is set.");
        Assert.True(problem.TryGetProperty("errorId", out _));
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private sealed class TestHost : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private TestHost(WebApplication app, LogCollector logs)
        {
            _app = app;
            Logs = logs.Lines;
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            Http = new HttpClient { BaseAddress = new Uri(address) };
        }

        public HttpClient Http { get; }

        public ConcurrentQueue<string> Logs { get; }

        public static async Task<TestHost> StartAsync(Func<IResult> route)
        {
            var builder = WebApplication.CreateBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var logs = new LogCollector();
            builder.Logging.ClearProviders().AddProvider(logs);
            builder.Services.AddAgentApi();
            var app = builder.Build();
            app.MapGet("/throws", route);
            await app.StartAsync();
            return new TestHost(app, logs);
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private sealed class LogCollector : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(Lines);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => lines.Enqueue(formatter(state, exception) + (exception is null ? string.Empty : " " + exception));
        }
    }
}

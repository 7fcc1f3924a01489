using Microsoft.Extensions.Logging;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>
/// A silo started while its Redis is not ready (restarting: refusing connections, then loading its data) waits for it
/// instead of failing its start (and, in a Worker, the process): a Worker restarted during a Redis restart died of
/// <c>LOADING</c> in the chaos soak.
/// </summary>
public sealed class RedisReadinessGateTests
{
    [Fact]
    public async Task ASiloStartedWhileRedisIsDown_WaitsForIt_SaysSo_AndRunsOnceRedisIsBack()
    {
        // Its own server: the test stops it.
        await using var server = await RedisServer.StartAsync(appendOnly: true);
        await server.StopAsync();
        var log = new GateLog();
        var starting = OrleansCluster.StartAsync(server, new ScriptedChatClient(), configureSiloHost: builder => builder.Logging.AddProvider(log));

        var problem = await log.Waiting.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.False(starting.IsCompleted, "the silo started without Redis");
        Assert.Contains("Redis did not answer", problem, StringComparison.Ordinal);

        await server.RestartAsync();
        await using var cluster = await starting.WaitAsync(TimeSpan.FromSeconds(90));
        var agent = cluster.Client.GetAgent("TestAgent");
        Assert.Equal("Answer to: hello", (await agent.RunAsync("hello", agent.NewSession())).Text);
    }

    /// <summary>Completes <see cref="Waiting"/> with the problem the readiness gate logs while the silo waits for Redis.</summary>
    private sealed class GateLog : ILoggerProvider, ILogger
    {
        public TaskCompletionSource<string> Waiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ILogger CreateLogger(string categoryName) => categoryName.EndsWith("RedisReadinessGate", StringComparison.Ordinal) ? this : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == 2014)
            {
                Waiting.TrySetResult(formatter(state, exception));
            }
        }

        public void Dispose()
        {
        }
    }
}

using AgentStreaming.Streaming.Resilience;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Testing;
using StackExchange.Redis;

namespace AgentStreaming.Streaming.Tests;

/// <summary>What the one Redis failure policy calls transient, on failures from real servers where they can be provoked.</summary>
public sealed class RedisFailurePolicyTests
{
    [Fact]
    public async Task IsTransient_CommandToAStoppedServer_IsTransient()
    {
        await using var server = await RedisServer.StartAsync();
        await using var multiplexer = await server.ConnectAsync(o => o.ConnectRetry = 0);
        await server.StopAsync();

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => multiplexer.GetDatabase().PingAsync());
        Assert.True(RedisFailurePolicy.IsTransient(ex), ex.ToString());
    }

    [Fact]
    public async Task IsTransient_CommandTimedOutOnAPausedServer_IsTransient()
    {
        await using var server = await RedisServer.StartAsync();
        await using var admin = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",allowAdmin=true");
        await using var multiplexer = await server.ConnectAsync(o => o.AsyncTimeout = 200);
        await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "5000", "ALL");
        try
        {
            var ex = await Assert.ThrowsAnyAsync<TimeoutException>(() => multiplexer.GetDatabase().StringGetAsync("k"));
            Assert.True(RedisFailurePolicy.IsTransient(ex), ex.ToString());
        }
        finally
        {
            await admin.GetDatabase().ExecuteAsync("CLIENT", "UNPAUSE");
        }
    }

    [Fact]
    public async Task IsTransient_WriteToAReplica_ReadOnlyIsTransient()
    {
        await using var primary = await RedisServer.StartAsync();
        await using var replica = await RedisServer.StartAsync();
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(replica.ConnectionString + ",allowAdmin=true");
        var database = multiplexer.GetDatabase();
        await database.ExecuteAsync("REPLICAOF", "127.0.0.1", primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        // CommandFlags.DemandMaster would stop the client before the server: send it as a plain command.
        var ex = await Assert.ThrowsAsync<RedisServerException>(() => database.ExecuteAsync("SET", "k", "v"));
        Assert.StartsWith("READONLY", ex.Message, StringComparison.Ordinal);
        Assert.True(RedisFailurePolicy.IsTransient(ex));
    }

    [Fact]
    public async Task IsTransient_ServerBusyWithAScript_BusyIsTransient()
    {
        await using var server = await RedisServer.StartAsync();
        await using var scripting = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        await using var other = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",allowAdmin=true,asyncTimeout=30000");
        await other.GetDatabase().ExecuteAsync("CONFIG", "SET", "busy-reply-threshold", "10");

        var looping = scripting.GetDatabase().ScriptEvaluateAsync("local i = 0 while true do i = i + 1 end");
        RedisServerException busy;
        while (true)
        {
            // Until the script runs (it may not have reached the server yet), PING simply answers.
            try
            {
                await other.GetDatabase().PingAsync();
            }
            catch (RedisServerException ex)
            {
                busy = ex;
                break;
            }
        }

        await other.GetDatabase().ExecuteAsync("SCRIPT", "KILL");
        var killed = await Assert.ThrowsAsync<RedisServerException>(() => looping);

        Assert.StartsWith("BUSY", busy.Message, StringComparison.Ordinal);
        Assert.True(RedisFailurePolicy.IsTransient(busy));
        Assert.False(RedisFailurePolicy.IsTransient(killed), killed.Message);
    }

    [Fact]
    public async Task IsTransient_WrongTypeFromARealServer_IsNotTransient()
    {
        await using var server = await RedisServer.StartAsync();
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        var database = multiplexer.GetDatabase();
        await database.StringSetAsync("plain", "text");

        var ex = await Assert.ThrowsAsync<RedisServerException>(() => database.StreamAddAsync("plain", "f", "v"));
        Assert.False(RedisFailurePolicy.IsTransient(ex));
    }

    [Theory]
    [InlineData("LOADING Redis is loading the dataset in memory", true)]
    [InlineData("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", true)]
    [InlineData("TRYAGAIN Multiple keys request during rehashing of slot", true)]
    [InlineData("CLUSTERDOWN The cluster is down", true)]
    [InlineData("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", true)]
    [InlineData("READONLY You can't write against a read only replica.", true)]
    [InlineData("EXECABORT Transaction discarded because of previous errors.", true)]
    [InlineData("LOADING", true)]
    [InlineData("BUSYKEY Target key name already exists.", false)]
    [InlineData("ERR unknown command 'FOO'", false)]
    [InlineData("NOSCRIPT No matching script. Please use EVAL.", false)]
    [InlineData("OOM command not allowed when used memory > 'maxmemory'.", false)]
    [InlineData("loading lower case is not a Redis error code", false)]
    public void IsTransient_ServerErrorReply_ClassifiedByItsCode(string message, bool transient)
        => Assert.Equal(transient, RedisFailurePolicy.IsTransient(ServerError(message)));

    [Fact]
    public void IsTransient_ScriptRefusals_AreNotTransient()
    {
        foreach (var prefix in new[] { RedisStreamScripts.FencedPrefix, RedisStreamScripts.ExpiredPrefix, RedisStreamScripts.TerminatedPrefix })
        {
            Assert.False(RedisFailurePolicy.IsTransient(ServerError("ERR " + prefix + " refused")), prefix);
        }
    }

    [Fact]
    public void IsTransient_TransientFailureWrapped_IsFoundInTheInnerExceptions()
    {
        var connection = new RedisConnectionException(ConnectionFailureType.SocketClosed, CommandFlags.None, "closed", null, CommandStatus.Sent);
        Assert.True(RedisFailurePolicy.IsTransient(new InvalidOperationException("wrapped", connection)));
        Assert.True(RedisFailurePolicy.IsTransient(new AggregateException(new InvalidOperationException("first"), connection)));
        Assert.True(RedisFailurePolicy.IsTransient(new RedisTimeoutException(CommandFlags.None, "timed out", CommandStatus.Sent)));
    }

    [Fact]
    public void IsTransient_FailuresNotFromRedis_AreNotTransient()
    {
        Assert.False(RedisFailurePolicy.IsTransient(new TimeoutException("a timeout of someone else's")));
        Assert.False(RedisFailurePolicy.IsTransient(new ObjectDisposedException("multiplexer")));
        Assert.False(RedisFailurePolicy.IsTransient(new InvalidOperationException("no")));
    }

    [Fact]
    public void NextDelay_FromZero_Doubles50MillisecondsUpToOneSecond()
    {
        var delays = new List<TimeSpan>();
        var delay = TimeSpan.Zero;
        for (var i = 0; i < 7; i++)
        {
            delay = RedisFailurePolicy.NextDelay(delay);
            delays.Add(delay);
        }

        Assert.Equal([50, 100, 200, 400, 800, 1000, 1000], delays.Select(d => d.TotalMilliseconds));
        Assert.Equal(TimeSpan.FromSeconds(1), RedisFailurePolicy.RetryAfter);
    }

    [Fact]
    public async Task RetryAsync_TransientFailuresThenSuccess_ReturnsTheResult()
    {
        var calls = 0;
        var retries = new List<TimeSpan>();
        var result = await RedisFailurePolicy.RetryAsync(
            () => ++calls < 3 ? Task.FromException<int>(new RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None, "down", null, CommandStatus.Sent)) : Task.FromResult(42),
            TimeSpan.FromSeconds(30),
            TimeProvider.System,
            (_, elapsed) => retries.Add(elapsed),
            CancellationToken.None);

        Assert.Equal(42, result);
        Assert.Equal(3, calls);
        Assert.Equal(2, retries.Count);
    }

    [Fact]
    public async Task RetryAsync_NotTransient_ThrowsAtOnce()
    {
        var calls = 0;
        var ex = await Assert.ThrowsAsync<RedisServerException>(() => RedisFailurePolicy.RetryAsync<int>(
            () => { calls++; throw ServerError("WRONGTYPE Operation against a key holding the wrong kind of value"); },
            TimeSpan.FromSeconds(30),
            TimeProvider.System,
            null,
            CancellationToken.None));

        Assert.Equal(1, calls);
        Assert.StartsWith("WRONGTYPE", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RetryAsync_TransientPastTheDeadline_RethrowsTheLastFailure()
    {
        var calls = 0;
        await Assert.ThrowsAsync<RedisConnectionException>(() => RedisFailurePolicy.RetryAsync(
            () => { calls++; return Task.FromException(new RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None, "down", null, CommandStatus.Sent)); },
            TimeSpan.FromMilliseconds(120),
            TimeProvider.System,
            null,
            CancellationToken.None));

        Assert.InRange(calls, 2, 10);
    }

    [Fact]
    public async Task RetryAsync_ZeroTimeout_NeverRetries()
    {
        var calls = 0;
        await Assert.ThrowsAsync<RedisConnectionException>(() => RedisFailurePolicy.RetryAsync(
            () => { calls++; return Task.FromException(new RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None, "down", null, CommandStatus.Sent)); },
            TimeSpan.Zero,
            TimeProvider.System,
            null,
            CancellationToken.None));

        Assert.Equal(1, calls);
    }

    private static RedisServerException ServerError(string message) => new(RedisErrorKind.UnknownError, CommandFlags.None, message);
}

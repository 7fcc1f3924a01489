using AgentStreaming.DurableAgents.Client;
using Orleans.Persistence.Redis;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>
/// Failures of Orleans's Redis grain storage, which keeps the Redis failure only in its own exception's text (as seen
/// while a Redis Cluster failed over): transient ones are "unavailable" (a 503 with Retry-After), others are not.
/// </summary>
public sealed class DurableAgentsFailuresTests
{
    private const string Prefix = "Failed to write grain state for conversation grain with ID agentconversation/TravelPlanner/c1 and storage key s/state/agentconversation/TravelPlanner/c1/conversation. ";

    [Theory]
    [InlineData("StackExchange.Redis.RedisServerException: CLUSTERDOWN The cluster is down", true)]
    [InlineData("StackExchange.Redis.RedisServerException: TRYAGAIN Multiple keys request during rehashing of slot", true)]
    [InlineData("StackExchange.Redis.RedisServerException: READONLY You can't write against a read only replica.", true)]
    [InlineData("StackExchange.Redis.RedisConnectionException: No connection is active/available to service this operation: EVAL", true)]
    [InlineData("StackExchange.Redis.RedisTimeoutException: Timeout awaiting response (outbound=0KiB, inbound=0KiB, 5000ms elapsed, timeout is 5000ms)", true)]
    [InlineData("StackExchange.Redis.RedisServerException: ERR unknown command 'EVALSHA'", false)]
    [InlineData("StackExchange.Redis.RedisServerException: OOM command not allowed when used memory > 'maxmemory'.", false)]
    [InlineData("System.InvalidOperationException: CLUSTERDOWN", false)]
    public void AGrainStorageFailure_IsUnavailable_ExactlyWhenTheRedisFailureItNamesIsTransient(string failure, bool unavailable)
    {
        var storage = new RedisStorageException(Prefix + failure);
        var bridged = new OrleansException("Error from storage provider RedisGrainStorage.conversation during WriteStateAsync for grain agentconversation/TravelPlanner/c1", storage);

        Assert.Equal(unavailable, DurableAgentsFailures.IsUnavailable(storage));
        Assert.Equal(unavailable, DurableAgentsFailures.IsUnavailable(bridged));
        Assert.Equal(unavailable, DurableAgentsFailures.IsWrappedTransient(Prefix + failure));
    }
}

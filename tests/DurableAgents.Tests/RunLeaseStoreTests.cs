using AgentStreaming.DurableAgents.Recovery;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace AgentStreaming.DurableAgents.Tests;

/// <summary>The run leases on Redis Cluster: spread over the primaries, claimed once, and those of earlier versions recovered.</summary>
public sealed class RunLeaseStoreTests(AppendOnlyRedisServerFixture redis)
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task OnACluster_ClaimsOfManyConversations_SpreadOverEveryPrimary_AndEachExpiredClaimIsTakenOnce()
    {
        await using var cluster = await RedisCluster.StartAsync(primaries: 3);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(cluster.ConnectionString);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var serviceId = "leases-" + Guid.NewGuid().ToString("N")[..8];
        var store = new RunLeaseStore(connection, serviceId, time);
        var conversations = Enumerable.Range(0, 200).Select(i => $"TravelPlanner/c{i}").ToList();

        await Task.WhenAll(conversations.Select(c => store.RenewAsync(c, Lease)));

        var primaries = conversations.Select(c => connection.GetServer(store.KeyOf(c), flags: CommandFlags.DemandMaster).EndPoint).Distinct().Count();
        Assert.Equal(3, primaries);
        Assert.Equal(RunLeaseStore.ShardCount, conversations.Select(c => store.KeyOf(c).ToString()).Distinct().Count());
        Assert.Empty(await store.ClaimExpiredAsync(Lease));

        await store.RemoveAsync(conversations[0]);
        time.Advance(Lease + TimeSpan.FromSeconds(1));
        var other = new RunLeaseStore(connection, serviceId, time);
        var claims = await Task.WhenAll(store.ClaimExpiredAsync(Lease), other.ClaimExpiredAsync(Lease));

        Assert.Equal(conversations.Skip(1).Order(), claims.SelectMany(c => c).Order());
        Assert.Empty(await store.ClaimExpiredAsync(Lease));
    }

    [Fact]
    public async Task AClaimInTheSetOfEarlierVersions_IsRecovered_AndRemovedWithTheConversationsClaim()
    {
        var connection = redis.Multiplexer;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var serviceId = "leases-" + Guid.NewGuid().ToString("N")[..8];
        RedisKey legacy = $"durable-agents:{serviceId}:run-leases";
        await connection.GetDatabase().SortedSetAddAsync(legacy, "TravelPlanner/old", time.GetUtcNow().ToUnixTimeMilliseconds() - 1);
        var store = new RunLeaseStore(connection, serviceId, time);

        Assert.Equal(["TravelPlanner/old"], await store.ClaimExpiredAsync(Lease));
        await store.RemoveAsync("TravelPlanner/old");

        Assert.Equal(0, await connection.GetDatabase().SortedSetLengthAsync(legacy));
    }
}

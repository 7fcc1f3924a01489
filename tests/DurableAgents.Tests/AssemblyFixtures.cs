// One real redis-server (AOF on) for the assembly; every test runs its own Orleans cluster id, so keys never mix.
[assembly: AssemblyFixture(typeof(AgentStreaming.Testing.AppendOnlyRedisServerFixture))]

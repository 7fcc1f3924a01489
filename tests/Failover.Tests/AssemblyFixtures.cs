// One real redis-server (AOF on) for the assembly; each test uses its own Orleans cluster id and run ids.
[assembly: AssemblyFixture(typeof(AgentStreaming.Testing.AppendOnlyRedisServerFixture))]

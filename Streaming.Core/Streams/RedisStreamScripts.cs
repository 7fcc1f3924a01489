namespace AgentStreaming.Streaming.Streams;

/// <summary>The Lua scripts the writer runs (EVALSHA; StackExchange.Redis loads them on first use).</summary>
internal static class RedisStreamScripts
{
    /// <summary>
    /// Appends a batch of entries to a run stream in one command: checks the fence (a lower attempt than the
    /// recorded one, or any write after the terminal entry, is refused), refuses a write to a stream that expired or
    /// was evicted while its metadata remains (the sequence must not restart next to readers holding cursors), writes
    /// a <c>reset</c> entry when a newer attempt takes over a stream that already has entries and trims the abandoned
    /// entries before it (<c>XTRIM MINID</c>), assigns the sequence numbers server-side (so they survive writer crashes
    /// and never repeat), stamps the server time, refreshes both keys' TTL (the metadata's longer), and on Redis
    /// Cluster announces the batch on the run's sharded channel (<c>SPUBLISH</c>).
    /// Batches of one writer must apply in order (at most two are in flight): a batch whose predecessor was not stored
    /// is refused, so a failure never leaves a gap. A batch is idempotent: re-sent with the same writer id and batch
    /// index after its reply was lost, it writes nothing and returns the last entry id it stored (kept in the metadata
    /// as <c>last</c>), even after its terminal entry.
    /// KEYS: stream, meta. ARGV: ttlMs, attempt, n, writerId, batchIndex (1-based), metaExtraTtlMs, notifyChannel or
    /// "", then per entry: type, text, extraPairCount, field, value….
    /// Returns { lastEntryId or "", nextSequence }.
    /// </summary>
    public const string Append = """
        local ttl = tonumber(ARGV[1])
        local attempt = tonumber(ARGV[2])
        local n = tonumber(ARGV[3])
        local meta = redis.call('HMGET', KEYS[2], 'attempt', 'seq', 'terminal', 'writer', 'batch')
        local writer = ARGV[4]
        local batch = tonumber(ARGV[5])
        if meta[4] == writer and tonumber(meta[5]) == batch then
          -- A batch re-sent after its reply was lost: it is stored already. Acknowledged before the checks below, so a
          -- re-sent terminal batch is not refused as a write after the terminal entry.
          return { redis.call('HGET', KEYS[2], 'last') or '', tonumber(meta[2]) }
        end
        local current = tonumber(meta[1]) or 0
        local seq = tonumber(meta[2]) or 0
        if meta[3] then
          return redis.error_reply('AGENTSTREAM_TERMINATED the run stream already holds its terminal entry')
        end
        if seq > 0 and redis.call('EXISTS', KEYS[1]) == 0 then
          return redis.error_reply('AGENTSTREAM_EXPIRED the run stream expired or was evicted after ' .. seq .. ' entries')
        end
        if attempt < current then
          return redis.error_reply('AGENTSTREAM_FENCED attempt ' .. attempt .. ' was superseded by attempt ' .. current)
        end
        if meta[4] == writer then
          if tonumber(meta[5]) ~= batch - 1 then
            return redis.error_reply('AGENTSTREAM_ORDER batch ' .. batch .. ' follows a batch that was not stored')
          end
        elseif batch ~= 1 then
          return redis.error_reply('AGENTSTREAM_ORDER batch ' .. batch .. ' of a writer that no longer owns the stream')
        end
        local t = redis.call('TIME')
        local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
        local last = ''
        if attempt > current and seq > 0 then
          last = redis.call('XADD', KEYS[1], '*', 'text', '', 'sequence', seq, 'timestamp', now,
            'type', 'reset', 'attempt', ARGV[2])
          -- The abandoned attempts' entries go: a reader that starts now begins at this reset. Ids are positions, so
          -- the cursors of readers already in the stream stay valid and lead them to this reset.
          redis.call('XTRIM', KEYS[1], 'MINID', last)
          seq = seq + 1
        end
        local i = 8
        local terminal = false
        local a = ARGV[2]
        local key = KEYS[1]
        for e = 1, n do
          local kind = ARGV[i]
          local text = ARGV[i + 1]
          local extra = tonumber(ARGV[i + 2])
          -- Direct calls per shape: building an argument table and unpacking it costs more than the XADD itself.
          if extra == 0 then
            last = redis.call('XADD', key, '*', 'text', text, 'sequence', seq, 'timestamp', now, 'type', kind, 'attempt', a)
          elseif extra == 1 then
            last = redis.call('XADD', key, '*', 'text', text, 'sequence', seq, 'timestamp', now, 'type', kind, 'attempt', a,
              ARGV[i + 3], ARGV[i + 4])
          elseif extra == 2 then
            last = redis.call('XADD', key, '*', 'text', text, 'sequence', seq, 'timestamp', now, 'type', kind, 'attempt', a,
              ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
          else
            last = redis.call('XADD', key, '*', 'text', text, 'sequence', seq, 'timestamp', now, 'type', kind, 'attempt', a,
              ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8])
          end
          i = i + 3 + extra * 2
          seq = seq + 1
          if kind == 'done' or kind == 'error' or kind == 'cancelled' then
            terminal = true
          end
        end
        if terminal then
          redis.call('HSET', KEYS[2], 'attempt', attempt, 'seq', seq, 'writer', writer, 'batch', batch, 'last', last, 'terminal', '1')
        else
          redis.call('HSET', KEYS[2], 'attempt', attempt, 'seq', seq, 'writer', writer, 'batch', batch, 'last', last)
        end
        redis.call('PEXPIRE', KEYS[2], ttl + tonumber(ARGV[6]))
        redis.call('PEXPIRE', KEYS[1], ttl)
        if ARGV[7] ~= '' and last ~= '' then
          redis.call('SPUBLISH', ARGV[7], last)
        end
        return { last, seq }
        """;

    public const string FencedPrefix = "AGENTSTREAM_FENCED";

    public const string TerminatedPrefix = "AGENTSTREAM_TERMINATED";

    public const string OrderPrefix = "AGENTSTREAM_ORDER";

    public const string ExpiredPrefix = "AGENTSTREAM_EXPIRED";
}

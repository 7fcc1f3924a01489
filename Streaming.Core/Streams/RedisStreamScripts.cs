namespace AgentStreaming.Streaming.Streams;

/// <summary>The Lua script the writer runs to claim a run's stream (EVALSHA; StackExchange.Redis loads it on first use).</summary>
/// <remarks>
/// Only the claim, once per writer, is a script. Entries are plain <c>XADD</c>s with ids the writer assigns
/// (<see cref="Writing.EntryIds"/>): <c>XADD</c> itself refuses a duplicate or a stale claim's entry, so the common path
/// costs Redis what a bare <c>XADD</c> costs.
/// </remarks>
internal static class RedisStreamScripts
{
    /// <summary>
    /// Claims a run's stream for one writer of one attempt. Refuses a lower attempt than the recorded one
    /// (<see cref="FencedPrefix"/>), a stream whose last entry is terminal (<see cref="TerminatedPrefix"/>) and a stream
    /// that expired or was evicted after entries were written while its metadata remains (<see cref="ExpiredPrefix"/>:
    /// the sequence must not restart next to readers holding cursors). Otherwise opens a new epoch above every id the
    /// stream holds: when the stream has entries it writes the <c>reset</c> entry at <c>base-0</c> and trims everything
    /// before it (<c>XTRIM MINID</c>), else it sets the stream's last id to <c>base-1</c> with an entry trimmed at once
    /// (<c>XADD … MAXLEN 0</c>), which creates the stream and fences out every earlier claim's entries. Records the
    /// attempt, the epoch and the writer, sets both keys' TTL (the metadata's longer) and announces a reset.
    /// A claim re-sent by the same writer after its reply was lost answers the same, without a second epoch.
    /// KEYS: stream, meta. ARGV: attempt, writerId, ttlMs, metaTtlMs, changesChannel or "", notifyChannel or "", stride.
    /// Returns { base, resetId or "" }: the writer's entries take the sequences base + 1, base + 2….
    /// </summary>
    public const string Claim = """
        local key, metaKey = KEYS[1], KEYS[2]
        local attempt = tonumber(ARGV[1])
        local writer = ARGV[2]
        local stride = tonumber(ARGV[7])
        local meta = redis.call('HMGET', metaKey, 'attempt', 'seq', 'epoch', 'writer', 'claim')
        local epoch = tonumber(meta[3])
        if meta[4] == writer and epoch then
          return { string.format('%.0f', epoch * stride), meta[5] or '' }
        end
        local current = tonumber(meta[1]) or 0
        local written = tonumber(meta[2]) or 0
        local exists = redis.call('EXISTS', key) == 1
        if written > 0 and not exists then
          return redis.error_reply('AGENTSTREAM_EXPIRED the run stream expired or was evicted after entries were written')
        end
        local top = exists and redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1] or nil
        if top then
          local f = top[2]
          for i = 1, #f, 2 do
            if (f[i] == 'type' and (f[i + 1] == 'done' or f[i + 1] == 'error' or f[i + 1] == 'cancelled')) or f[i] == 'done' then
              return redis.error_reply('AGENTSTREAM_TERMINATED the run stream already holds its terminal entry')
            end
          end
        end
        if attempt < current then
          return redis.error_reply('AGENTSTREAM_FENCED attempt ' .. attempt .. ' was superseded by attempt ' .. current)
        end
        epoch = (epoch or -1) + 1
        if top then
          -- Above every id the stream holds, also ids of another writer (timestamps).
          local above = math.floor(tonumber(string.match(top[1], '^(%d+)')) / stride) + 1
          if above > epoch then
            epoch = above
          end
        end
        local base = string.format('%.0f', epoch * stride)
        local t = redis.call('TIME')
        local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
        local previous = ''
        if top and attempt > current then
          previous = base .. '-0'
          redis.call('XADD', key, previous, 'text', '', 'sequence', base, 'timestamp', now, 'type', 'reset', 'attempt', ARGV[1])
          -- The abandoned entries go: a reader that starts now begins at this reset. Ids are positions, so the
          -- cursors of readers already in the stream stay valid and lead them to it.
          redis.call('XTRIM', key, 'MINID', previous)
          written = base
          if ARGV[5] ~= '' then
            redis.call('PUBLISH', ARGV[5], 'v1 ' .. now .. '\n' .. key .. ' ? - ' .. ARGV[1])
          end
          if ARGV[6] ~= '' then
            redis.call('SPUBLISH', ARGV[6], previous)
          end
        elseif exists then
          -- Another writer of this attempt continues the stream: no reset, but its entries start above a new floor.
          if top then
            previous = top[1]
          end
          redis.call('XSETID', key, base .. '-1')
        else
          redis.call('XADD', key, 'MAXLEN', '0', base .. '-1', 'type', 'claim')
        end
        redis.call('HSET', metaKey, 'attempt', attempt, 'epoch', epoch, 'writer', writer, 'claim', previous, 'seq', written)
        redis.call('PEXPIRE', metaKey, ARGV[4])
        redis.call('PEXPIRE', key, ARGV[3])
        return { base, previous }
        """;
    public const string FencedPrefix = "AGENTSTREAM_FENCED";

    public const string TerminatedPrefix = "AGENTSTREAM_TERMINATED";

    public const string ExpiredPrefix = "AGENTSTREAM_EXPIRED";
}

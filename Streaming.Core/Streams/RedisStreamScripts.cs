namespace AgentStreaming.Streaming.Streams;

/// <summary>The Lua scripts the writer runs (EVALSHA; StackExchange.Redis loads them on first use).</summary>
internal static class RedisStreamScripts
{
    /// <summary>
    /// Appends batches of entries to one or more run streams in one command; each run's batch is applied on its own,
    /// exactly as if it were sent alone. Per run: checks the fence (a lower attempt than the recorded one, or any write
    /// after the terminal entry, is refused), refuses a write to a stream that expired or was evicted while its metadata
    /// remains (the sequence must not restart next to readers holding cursors), writes a <c>reset</c> entry when a newer
    /// attempt takes over a stream that already has entries and trims the abandoned entries before it
    /// (<c>XTRIM MINID</c>), assigns the sequence numbers server-side (so they survive writer crashes and never repeat),
    /// stamps the server time, refreshes both keys' TTL (the metadata's longer) on the first batch, at least every
    /// eighth of the TTL and on the terminal entry, and on Redis Cluster announces the batch on the run's sharded
    /// channel (<c>SPUBLISH</c>).
    /// Batches of one writer must apply in order: a batch whose predecessor was not stored is refused, so a failure
    /// never leaves a gap. A batch is idempotent: re-sent with the same writer id and batch index after its reply was
    /// lost, it writes nothing and returns the last entry id it stored (kept in the metadata as <c>last</c>), even after
    /// its terminal entry. A refused batch does not stop the other runs' batches of the call.
    /// When a changes channel is given, the streams that received entries are announced on it once per call (one
    /// <c>PUBLISH</c>), with the entries of small batches and the id each batch follows, so the single-server tail
    /// hands them to readers that are up to date without reading Redis, and reads only the other announced streams.
    /// KEYS: per run: stream, meta. ARGV: changesChannel or "", runCount, then per run: its argument count, then ttlMs,
    /// attempt, n, writerId, batchIndex (1-based), metaExtraTtlMs, notifyChannel or "", then per entry: type, text,
    /// extraPairCount, field, value….
    /// Returns one element per run: the last entry id the stream holds after the batch ("" when none), or, for a refused
    /// batch, a one-element array holding the refusal, which starts with one of the prefixes below. The common batch
    /// (same writer and attempt, no TTL refresh) rewrites only the metadata fields it changes.
    /// </summary>
    public const string Append = """
        local t = redis.call('TIME')
        local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local now = string.format('%d', nowMs)
        -- The announcement (ARGV[1] names its channel): per run that received entries, a header line
        -- "key previousLastId count attempt" and, when the batch is small, its entries: "id sequence type extraPairs textBytes",
        -- the text, then per extra pair "field valueBytes" and the value; elements are joined by newlines. A count of
        -- "-" (a large batch) or a previous id of "?" (unknown) asks readers to read the stream instead.
        local announce = ARGV[1] ~= ''
        local pub = { 'v1 ' .. now }
        local np = 1

        -- One run's batch; b is the offset of its arguments (ARGV[b + 1] is its TTL).
        local function append(key, metaKey, b)
          local ttl = tonumber(ARGV[b + 1])
          local attempt = tonumber(ARGV[b + 2])
          local n = tonumber(ARGV[b + 3])
          local writer = ARGV[b + 4]
          local batch = tonumber(ARGV[b + 5])
          local meta = redis.call('HMGET', metaKey, 'attempt', 'seq', 'terminal', 'writer', 'batch', 'ttlat', 'last')
          if meta[4] == writer and tonumber(meta[5]) == batch then
            -- A batch re-sent after its reply was lost: it is stored already. Acknowledged before the checks below, so
            -- a re-sent terminal batch is not refused as a write after the terminal entry.
            return true, meta[7] or ''
          end
          local current = tonumber(meta[1]) or 0
          local seq = tonumber(meta[2]) or 0
          local fresh = seq == 0
          if meta[3] then
            return false, 'AGENTSTREAM_TERMINATED the run stream already holds its terminal entry'
          end
          -- A stream that has entries must still exist (it expired or was evicted otherwise). The common batch, text
          -- first, checks with its first XADD (NOMKSTREAM writes nothing to a missing stream); others check first.
          local probe = false
          if seq > 0 then
            if attempt > current or n == 0 or tonumber(ARGV[b + 10]) ~= 0 then
              if redis.call('EXISTS', key) == 0 then
                return false, 'AGENTSTREAM_EXPIRED the run stream expired or was evicted after ' .. seq .. ' entries'
              end
            else
              probe = true
            end
          end
          if attempt < current then
            return false, 'AGENTSTREAM_FENCED attempt ' .. attempt .. ' was superseded by attempt ' .. current
          end
          if meta[4] == writer then
            if tonumber(meta[5]) ~= batch - 1 then
              return false, 'AGENTSTREAM_ORDER batch ' .. batch .. ' follows a batch that was not stored'
            end
          elseif batch ~= 1 then
            return false, 'AGENTSTREAM_ORDER batch ' .. batch .. ' of a writer that no longer owns the stream'
          end
          local a = ARGV[b + 2]
          local prev = meta[7]
          if prev == nil and seq > 0 then
            prev = '?'
          end
          local last = meta[7] or ''
          local head = 0
          local detail = false
          local announced = 0
          if announce then
            np = np + 1
            head = np
            pub[head] = ''
            detail = n <= 16
          end
          if attempt > current and seq > 0 then
            last = redis.call('XADD', key, '*', 'text', '', 'sequence', seq, 'timestamp', now, 'type', 'reset', 'attempt', a)
            if detail then
              np = np + 1
              pub[np] = last .. ' ' .. seq .. ' reset 0 0\n'
              announced = 1
            end
            -- The abandoned attempts' entries go: a reader that starts now begins at this reset. Ids are positions, so
            -- the cursors of readers already in the stream stay valid and lead them to this reset.
            redis.call('XTRIM', key, 'MINID', last)
            seq = seq + 1
          end
          local i = b + 8
          local terminal = false
          for e = 1, n do
            local kind = ARGV[i]
            local text = ARGV[i + 1]
            local extra = tonumber(ARGV[i + 2])
            -- Direct calls per shape: building an argument table and unpacking it costs more than the XADD itself.
            if probe then
              last = redis.call('XADD', key, 'NOMKSTREAM', '*', 'text', text, 'sequence', seq, 'timestamp', now, 'type', kind, 'attempt', a)
              if not last then
                if head > 0 then
                  pub[head] = nil
                  np = head - 1
                end
                return false, 'AGENTSTREAM_EXPIRED the run stream expired or was evicted after ' .. seq .. ' entries'
              end
              probe = false
            elseif extra == 0 then
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
            if detail then
              if #text > 4096 then
                detail = false
              else
                np = np + 1
                pub[np] = last .. ' ' .. seq .. ' ' .. kind .. ' ' .. ARGV[i + 2] .. ' ' .. #text .. '\n' .. text
                announced = announced + 1
                for x = 1, extra do
                  local value = ARGV[i + 2 + 2 * x]
                  if #value > 4096 then
                    detail = false
                  end
                  np = np + 1
                  pub[np] = ARGV[i + 1 + 2 * x] .. ' ' .. #value .. '\n' .. value
                end
              end
            end
            i = i + 3 + extra * 2
            seq = seq + 1
            if kind == 'done' or kind == 'error' or kind == 'cancelled' then
              terminal = true
            end
          end
          -- The TTLs are refreshed on a run's first batch, at least every eighth of the TTL while it is written, and on
          -- its terminal entry (from which its readers' time counts), not on every batch.
          local ttlAt = tonumber(meta[6])
          local refresh = terminal or fresh or ttlAt == nil or attempt > current or (nowMs - ttlAt) * 8 >= ttl
          if refresh then
            ttlAt = nowMs
          end
          if terminal then
            redis.call('HSET', metaKey, 'attempt', attempt, 'seq', seq, 'writer', writer, 'batch', batch, 'last', last, 'ttlat', ttlAt, 'terminal', '1')
          elseif refresh or meta[4] ~= writer then
            redis.call('HSET', metaKey, 'attempt', attempt, 'seq', seq, 'writer', writer, 'batch', batch, 'last', last, 'ttlat', ttlAt)
          else
            -- The common batch: same writer, same attempt, no TTL refresh.
            redis.call('HSET', metaKey, 'seq', seq, 'batch', batch, 'last', last)
          end
          if refresh then
            redis.call('PEXPIRE', metaKey, ttl + tonumber(ARGV[b + 6]))
            if last ~= '' then
              redis.call('PEXPIRE', key, ttl)
            end
          end
          local wrote = seq > (tonumber(meta[2]) or 0)
          if ARGV[b + 7] ~= '' and wrote then
            redis.call('SPUBLISH', ARGV[b + 7], last)
          end
          if head > 0 then
            if not wrote then
              pub[head] = nil
              np = head - 1
            elseif detail then
              pub[head] = key .. ' ' .. (prev or '') .. ' ' .. announced .. ' ' .. a
            else
              for x = np, head + 1, -1 do
                pub[x] = nil
              end
              np = head
              pub[head] = key .. ' ' .. (prev or '') .. ' - ' .. a
            end
          end
          return true, last
        end

        local results = {}
        local p = 3
        for r = 1, tonumber(ARGV[2]) do
          local stored, value = append(KEYS[2 * r - 1], KEYS[2 * r], p)
          -- A refused batch is answered as a one-element array holding the refusal (an error element would fail the
          -- whole reply in the client); the other runs' batches of the call still apply.
          results[r] = stored and value or { value }
          p = p + 1 + tonumber(ARGV[p])
        end
        if np > 1 then
          redis.call('PUBLISH', ARGV[1], table.concat(pub, '\n'))
        end
        return results
        """;

    public const string FencedPrefix = "AGENTSTREAM_FENCED";

    public const string TerminatedPrefix = "AGENTSTREAM_TERMINATED";

    public const string OrderPrefix = "AGENTSTREAM_ORDER";

    public const string ExpiredPrefix = "AGENTSTREAM_EXPIRED";
}

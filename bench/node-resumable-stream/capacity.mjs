// The capacity scenario's `node` side (issue 23): what Node users pick instead of a Redis Stream, Vercel's
// `resumable-stream` on node-redis, driven with the load of bench/Streaming.Benchmarks' capacity scenario: N runs,
// each producing 50 chunks/s of 20 characters (append time and chunk number), each followed by one live reader on
// the package's resume path (`resumeExistingStream`: the producer replays its buffer and then PUBLISHes every chunk
// to the reader's channel). Producer and reader are in this one process, like ours. One step per invocation; the
// result is one JSON line on stdout (bench/Streaming.Benchmarks reads it), progress on stderr.
//
//   npm install --no-package-lock && node --expose-gc capacity.mjs --redis redis://127.0.0.1:6379 --runs 1000
//
// What it costs Redis per chunk: one PUBLISH to the reader's channel (and the pub/sub push to the subscriber
// connection). The chunks themselves live only in the producer's memory: see docs/benchmarks.md for what that does
// not survive.

import { createClient } from "redis";
import { createResumableStreamContext } from "resumable-stream";
import { constants, monitorEventLoopDelay, performance, PerformanceObserver } from "node:perf_hooks";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const usage = `node --expose-gc capacity.mjs --redis redis://HOST:PORT --runs N [--rate 50] [--warmup-seconds 5]
  [--step-seconds 20] [--min-measured-seconds 5] [--drain-seconds 60] [--setup-concurrency 50]`;

const CHUNK_LENGTH = 20;
const CATCH_UP_PERIODS = 5;
const HOPELESS_SHARE = 0.5;
const HOPELESS_P50_MS = 5000;
const MAX_SAMPLES = 10;

const { values: args } = parseArgs({
  options: {
    redis: { type: "string" },
    runs: { type: "string" },
    rate: { type: "string", default: "50" },
    "warmup-seconds": { type: "string", default: "5" },
    "step-seconds": { type: "string", default: "20" },
    "min-measured-seconds": { type: "string", default: "5" },
    "drain-seconds": { type: "string", default: "60" },
    "setup-concurrency": { type: "string", default: "50" },
    help: { type: "boolean", short: "h" },
  },
});
if (args.help) {
  console.log(usage);
  process.exit(0);
}

const { runsCount, rate, warmupMs, measuredMs, minimumMeasuredMs, drainMs, setupConcurrency } = {
  runsCount: positive("runs"),
  rate: positive("rate"),
  warmupMs: seconds("warmup-seconds"),
  measuredMs: seconds("step-seconds"),
  minimumMeasuredMs: seconds("min-measured-seconds"),
  drainMs: seconds("drain-seconds"),
  setupConcurrency: positive("setup-concurrency"),
};
if (!args.redis) {
  fail(`--redis is required (the redis-server to use, as redis://HOST:PORT).\n${usage}`);
}

function positive(name) {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < 1) {
    fail(`--${name} must be a whole number of at least 1, not '${args[name]}'.\n${usage}`);
  }
  return value;
}

function seconds(name) {
  const value = Number(args[name]);
  if (!Number.isFinite(value) || value < 0) {
    fail(`--${name} must be a number of seconds, not '${args[name]}'.\n${usage}`);
  }
  return value * 1000;
}

function fail(message) {
  console.error(message);
  process.exit(2);
}

function log(message) {
  console.error(`   node: ${message}`);
}

/**
 * The same buckets as bench/Streaming.Benchmarks' LatencyHistogram (1 µs below 1.024 ms, then 512 per power of two),
 * so the C# side adds these counts to its own histogram bucket for bucket.
 */
class Histogram {
  static LINEAR = 1024;
  static SUB = 512;
  static OCTAVES = 31;
  counts = new Float64Array(Histogram.LINEAR + Histogram.OCTAVES * Histogram.SUB);
  count = 0;

  record(ms) {
    const micros = Math.min(Math.max(Math.floor(ms * 1000), 0), 0xffffffff);
    this.counts[Histogram.index(micros)]++;
    this.count++;
  }

  static index(micros) {
    if (micros < Histogram.LINEAR) {
      return micros;
    }
    const exponent = 31 - Math.clz32(micros);
    const octave = exponent - 10;
    if (octave >= Histogram.OCTAVES) {
      return Histogram.LINEAR + Histogram.OCTAVES * Histogram.SUB - 1;
    }
    const sub = Math.floor(micros / 2 ** (exponent - 9)) - Histogram.SUB;
    return Histogram.LINEAR + octave * Histogram.SUB + sub;
  }

  static midpointMs(index) {
    if (index < Histogram.LINEAR) {
      return (index + 0.5) / 1000;
    }
    const octave = Math.floor((index - Histogram.LINEAR) / Histogram.SUB);
    const sub = (index - Histogram.LINEAR) % Histogram.SUB;
    const width = 2 ** (octave + 1);
    return ((Histogram.SUB + sub) * width + width / 2) / 1000;
  }

  percentile(p) {
    if (this.count === 0) {
      return NaN;
    }
    const rank = Math.min(Math.max(Math.ceil((p / 100) * this.count), 1), this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        return Histogram.midpointMs(i);
      }
    }
    return NaN;
  }

  /** Non-empty buckets as [bucket midpoint in ms, samples]. */
  buckets() {
    const rows = [];
    for (let i = 0; i < this.counts.length; i++) {
      if (this.counts[i] > 0) {
        rows.push([Histogram.midpointMs(i), this.counts[i]]);
      }
    }
    return rows;
  }
}

/** A chunk: 13 digits of µs since this process's time origin (when appended), 6 of the chunk's number, a bar. */
function chunkText(sequence) {
  const micros = Math.floor(performance.now() * 1000);
  return `${String(micros).padStart(13, "0")}${String(sequence).padStart(6, "0")}|`;
}

const WARMING_UP = 0;
const MEASURING = 1;
const FINISHED = 2;
let phase = WARMING_UP;
const latency = new Histogram();
const pacerLag = new Histogram();
const violationSamples = [];
let violations = 0;

function violation(run, message) {
  violations++;
  if (violationSamples.length < MAX_SAMPLES) {
    const sample = `run ${run.index}: ${message}`;
    violationSamples.push(sample);
    log(`!!! violation ${violations}: ${sample}`);
  }
}

/** Checks the chunks a message carries (one, or the producer's whole buffer when the reader joined) and times them. */
function onText(run, text) {
  const now = performance.now();
  if (text.length % CHUNK_LENGTH !== 0) {
    violation(run, `a message of ${text.length} characters is not whole chunks`);
    return;
  }
  const measuring = phase === MEASURING;
  for (let at = 0; at < text.length; at += CHUNK_LENGTH) {
    const written = Number(text.slice(at, at + 13)) / 1000;
    const sequence = Number(text.slice(at + 13, at + 19));
    if (text[at + 19] !== "|" || !Number.isFinite(written) || !Number.isFinite(sequence)) {
      violation(run, `malformed chunk '${text.slice(at, at + CHUNK_LENGTH)}'`);
      continue;
    }
    if (sequence !== run.expected) {
      violation(run, sequence > run.expected
        ? `chunk ${sequence} arrived next after chunk ${run.expected - 1}: ${sequence - run.expected} missing`
        : `chunk ${sequence} arrived after chunk ${run.expected - 1}: duplicate or out of order`);
    }
    run.expected = Math.max(run.expected, sequence + 1);
    run.received++;
    if (measuring) {
      run.inWindow++;
      latency.record(now - written);
    }
  }
  if (measuring && text.length > 0) {
    run.entriesInWindow++;
  }
}

async function readAll(run, stream) {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        run.done = true;
        return;
      }
      onText(run, value);
    }
  } catch (e) {
    violation(run, `the reader failed: ${e?.name}: ${e?.message}`);
  }
}

/** The producer's own stream (the response of the request that started the run): read and dropped, as a server sends it on. */
async function drainOriginal(run, stream) {
  try {
    for await (const _ of stream) {
      // dropped
    }
  } catch (e) {
    violation(run, `the producer's own stream failed: ${e?.name}: ${e?.message}`);
  }
}

function redisClient(name) {
  const client = createClient({ url: args.redis, name });
  client.on("error", (e) => log(`redis client ${name}: ${e?.message ?? e}`));
  return client;
}

async function redisCpuSeconds(admin) {
  const info = await admin.info("cpu");
  const field = (name) => Number(new RegExp(`^${name}:([0-9.]+)`, "m").exec(info)?.[1] ?? 0);
  return field("used_cpu_sys") + field("used_cpu_user");
}

async function commandStats(admin) {
  const info = await admin.info("commandstats");
  const rows = new Map();
  for (const line of info.split("\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (match) {
      rows.set(match[1], { calls: Number(match[2]), usec: Number(match[3]) });
    }
  }
  return rows;
}

function commandDelta(before, after) {
  const rows = [];
  for (const [name, now] of after) {
    const was = before.get(name) ?? { calls: 0, usec: 0 };
    const calls = now.calls - was.calls;
    if (calls > 0) {
      rows.push({ name, calls, usec: now.usec - was.usec });
    }
  }
  return rows.sort((a, b) => b.usec - a.usec);
}

function memory() {
  globalThis.gc?.();
  return process.memoryUsage();
}

/** The version of a package as installed next to this file. */
function installed(name) {
  try {
    return JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), "utf8")).version;
  } catch {
    return "?";
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const publisher = redisClient("bench-node-publisher");
const subscriber = redisClient("bench-node-subscriber");
const admin = redisClient("bench-node-admin");
try {
  await Promise.all([publisher.connect(), subscriber.connect(), admin.connect()]);
} catch (e) {
  fail(`Could not connect to ${args.redis}: ${e?.message ?? e}. Start a redis-server there or pass its address with --redis.`);
}

const keyPrefix = `bench-node-${randomUUID()}`;
const context = createResumableStreamContext({ waitUntil: null, publisher, subscriber, keyPrefix });
const before = memory();

// Open every run: the producer (createNewResumableStream over a source the pacer feeds), then its live reader
// (resumeExistingStream, which subscribes to a channel of its own and asks the producer for the buffer and the rest).
const runs = Array.from({ length: runsCount }, (_, index) => ({
  index, id: `${index}`, controller: null, written: 0, expected: 0, received: 0, inWindow: 0, entriesInWindow: 0, done: false,
}));
const reading = [];
let resumeRetries = 0;

/** The run's live reader. The package gives up on a resume whose producer has not answered within 1 s; a user retries. */
async function follow(run) {
  for (let attempt = 1; ; attempt++) {
    try {
      const resumed = await context.resumeExistingStream(run.id);
      if (!resumed) {
        throw new Error(`resumeExistingStream(${run.id}) found no stream to follow (${resumed}) right after createNewResumableStream.`);
      }
      return resumed;
    } catch (e) {
      if (attempt >= 5 || !/Timeout waiting for ack/.test(e?.message)) {
        throw e;
      }
      resumeRetries++;
    }
  }
}
const setupStarted = performance.now();
for (let from = 0; from < runs.length; from += setupConcurrency) {
  await Promise.all(runs.slice(from, from + setupConcurrency).map(async (run) => {
    const source = new ReadableStream({ start(controller) { run.controller = controller; } });
    const original = await context.createNewResumableStream(run.id, () => source);
    reading.push(drainOriginal(run, original));
    reading.push(readAll(run, await follow(run)));
  }));
}
log(`${runsCount} producers and live readers opened in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s` +
  (resumeRetries === 0 ? "" : ` (${resumeRetries} resumes retried after the package's 1 s ack timeout; the producer keeps publishing to their channels)`));

// The pacer: the 20 ms period cut into 1 ms slots, each run owning one, every wake-up appending the runs of every slot
// due since the last; a slot more than 5 periods late is dropped and counted (bench/Streaming.Benchmarks/CapacityPacer.cs).
const periodMs = 1000 / rate;
const slotCount = Math.max(1, Math.floor(periodMs));
const slotMs = periodMs / slotCount;
const slots = Array.from({ length: slotCount }, (_, s) =>
  runs.slice(Math.floor((runs.length * s) / slotCount), Math.floor((runs.length * (s + 1)) / slotCount)));
let offered = 0;
let appended = 0;
let skippedLate = 0;
let nextSlot = 0;
let pacing = true;
const pacerStart = performance.now() + 10;
function pace() {
  if (!pacing) {
    return;
  }
  const now = performance.now();
  for (; pacerStart + nextSlot * slotMs <= now; nextSlot++) {
    const lag = now - (pacerStart + nextSlot * slotMs);
    const due = slots[nextSlot % slotCount];
    const measuring = phase === MEASURING;
    if (measuring) {
      offered += due.length;
    }
    if (lag > CATCH_UP_PERIODS * periodMs) {
      if (measuring) {
        skippedLate += due.length;
      }
      continue;
    }
    if (measuring) {
      pacerLag.record(lag);
    }
    for (const run of due) {
      run.controller.enqueue(chunkText(run.written++));
      if (measuring) {
        appended++;
      }
    }
  }
  setTimeout(pace, Math.max(1, Math.ceil(pacerStart + nextSlot * slotMs - performance.now())));
}
pace();

await sleep(warmupMs);

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
const gc = { minor: 0, incremental: 0, major: 0, pauseMs: 0 };
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = entry.detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.minor++;
    else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major++;
    else gc.incremental++;
    gc.pauseMs += entry.duration;
  }
});
const commandsBefore = await commandStats(admin);
const redisBefore = await redisCpuSeconds(admin);
const cpuBefore = process.cpuUsage();
gcObserver.observe({ entryTypes: ["gc"] });
loopDelay.enable();
const windowStart = performance.now();
phase = MEASURING;
let cutReason = null;
for (;;) {
  const remaining = measuredMs - (performance.now() - windowStart);
  if (remaining <= 0) {
    break;
  }
  await sleep(Math.min(remaining, 1000));
  const elapsed = performance.now() - windowStart;
  if (elapsed < minimumMeasuredMs || elapsed >= measuredMs) {
    continue;
  }
  const delivered = runs.reduce((sum, run) => sum + run.inWindow, 0);
  const due = (runsCount * rate * elapsed) / 1000;
  if (delivered < due * HOPELESS_SHARE) {
    cutReason = `cut after ${(elapsed / 1000).toFixed(0)} s: delivered ${((100 * delivered) / due).toFixed(0)}% of the chunks due`;
  } else if (latency.percentile(50) > HOPELESS_P50_MS) {
    cutReason = `cut after ${(elapsed / 1000).toFixed(0)} s: delivery p50 ${(latency.percentile(50) / 1000).toFixed(1)} s`;
  }
  if (cutReason) {
    break;
  }
}
phase = FINISHED;
const measuredSeconds = (performance.now() - windowStart) / 1000;
const cpu = process.cpuUsage(cpuBefore);
loopDelay.disable();
gcObserver.disconnect();
const redisCpu = (await redisCpuSeconds(admin)) - redisBefore;
const commands = commandDelta(commandsBefore, await commandStats(admin));
const live = memory();

// Drain: stop the pacer, end every producer's source (the package then marks the stream done and tells its readers),
// and wait for every reader to reach the end.
pacing = false;
for (const run of runs) {
  run.controller.close();
}
const allRead = Promise.all(reading);
const drained = await Promise.race([allRead.then(() => true), sleep(drainMs).then(() => false)]) && runs.every((run) => run.done);
let undelivered = 0;
for (const run of runs) {
  undelivered += Math.max(0, run.written - run.received);
  if (run.done && run.expected !== run.written) {
    violation(run, `the stream ended after chunk ${run.expected - 1}, but ${run.written} chunks were appended`);
  }
}

const delivered = runs.reduce((sum, run) => sum + run.inWindow, 0);
const after = memory();
const result = {
  runs: runsCount,
  chunksPerSecond: rate,
  measuredSeconds,
  cutReason,
  latency: latency.buckets(),
  pacerLag: pacerLag.buckets(),
  offered,
  appended,
  skippedLate,
  delivered,
  entries: runs.reduce((sum, run) => sum + run.entriesInWindow, 0),
  violations,
  violationSamples,
  undelivered,
  drained,
  clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  redisCpuSeconds: redisCpu,
  commands,
  heapBytesPerRun: globalThis.gc ? (live.heapUsed - after.heapUsed) / runsCount : NaN,
  rssBytesPerRun: (live.rss - before.rss) / runsCount,
  eventLoop: `event loop delay p50/p99/max ${(loopDelay.percentile(50) / 1e6).toFixed(2)}/${(loopDelay.percentile(99) / 1e6).toFixed(2)}/${(loopDelay.max / 1e6).toFixed(2)} ms (one thread)`,
  gc,
  resumeRetries,
  versions: { node: process.versions.node, "resumable-stream": installed("resumable-stream"), redis: installed("redis") },
};
process.stdout.write(`${JSON.stringify(result)}\n`);
log(`${runsCount} runs: delivery p50 ${latency.percentile(50).toFixed(3)} ms, p99 ${latency.percentile(99).toFixed(3)} ms; delivered ${(delivered / measuredSeconds).toFixed(0)} of ${(offered / measuredSeconds).toFixed(0)} chunks/s; Redis ${(redisCpu * 1e6 / delivered).toFixed(2)} us/chunk, client ${(result.clientCpuSeconds * 1e6 / delivered).toFixed(2)} us/chunk; lost or out of order: ${violations}`);

// Remove the sentinels (the package keeps them 24 h) and leave.
const keys = await publisher.keys(`${keyPrefix}:*`);
for (let i = 0; i < keys.length; i += 1000) {
  await publisher.del(keys.slice(i, i + 1000));
}
await Promise.allSettled([publisher.quit(), subscriber.quit(), admin.quit()]);
process.exit(0);

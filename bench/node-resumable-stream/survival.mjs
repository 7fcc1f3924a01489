// What Vercel's resumable-stream does not survive, shown rather than read from its source (docs/benchmarks.md, "The
// peer"): a producer in a child process streams 50 chunks/s, a reader in this process follows it on the resume path,
// then the producer is killed (SIGKILL, as a crash or a deploy would), and the reader and a new resume are watched.
// Then a run that ends normally, resumed after its end. Prints one JSON line of what was seen.
//
//   npm install --no-package-lock && node survival.mjs --redis redis://127.0.0.1:6379

import { createClient } from "redis";
import { createResumableStreamContext } from "resumable-stream";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({ options: { redis: { type: "string" }, producer: { type: "string" }, prefix: { type: "string" } } });
if (!args.redis) {
  console.error("--redis is required (the redis-server to use, as redis://HOST:PORT).");
  process.exit(2);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function open(keyPrefix) {
  const publisher = createClient({ url: args.redis });
  const subscriber = createClient({ url: args.redis });
  await Promise.all([publisher.connect(), subscriber.connect()]);
  return { publisher, subscriber, context: createResumableStreamContext({ waitUntil: null, publisher, subscriber, keyPrefix }) };
}

/** A source of one chunk every 20 ms until `stop()`, which ends it. */
function source() {
  let controller;
  let sequence = 0;
  const stream = new ReadableStream({ start(c) { controller = c; } });
  const timer = setInterval(() => controller.enqueue(`chunk ${sequence++};`), 20);
  return { stream, stop: () => { clearInterval(timer); controller.close(); } };
}

if (args.producer) {
  // The child: produce until killed.
  const { context } = await open(args.prefix);
  const { stream } = source();
  const original = await context.createNewResumableStream(args.producer, () => stream);
  console.log("producing");
  for await (const _ of original) {
    // the original request's response, read and dropped
  }
} else {
  const keyPrefix = `bench-survival-${randomUUID()}`;
  const { publisher, subscriber, context } = await open(keyPrefix);
  const seen = {};

  // 1. The producer's process dies mid-run.
  const id = "crash";
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "--redis", args.redis, "--producer", id, "--prefix", keyPrefix], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => String(d).includes("producing") && resolve());
    child.on("exit", (code) => reject(new Error(`the producer exited early (${code})`)));
  });
  await sleep(200);
  const reader = (await context.resumeExistingStream(id)).getReader();
  let received = "";
  let ended = null;
  const reading = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          ended = "ended";
          return;
        }
        received += value;
      }
    } catch (e) {
      ended = `error: ${e.message}`;
    }
  })();
  await sleep(500);
  child.kill("SIGKILL");
  await new Promise((resolve) => child.once("exit", resolve));
  const atKill = received.length;
  await sleep(3000);
  seen.producerKilled = {
    readerReceivedBeforeKill: `${atKill} characters`,
    readerReceivedInTheNext3s: `${received.length - atKill} characters`,
    readerState3sAfterKill: ended ?? "still open, no error",
    sentinel: await publisher.get(`${keyPrefix}:rs:sentinel:${id}`),
    hasExistingStream: await context.hasExistingStream(id),
  };
  try {
    const again = await context.resumeExistingStream(id);
    seen.producerKilled.newResume = again === null ? "null (done)" : again === undefined ? "undefined (no stream)" : "a stream";
  } catch (e) {
    seen.producerKilled.newResume = `rejected: ${e.message}`;
  }
  await reader.cancel().catch(() => {});
  await Promise.race([reading, sleep(100)]);

  // 2. A run that ended normally, resumed after its end.
  const { stream, stop } = source();
  const original = await context.createNewResumableStream("ended", () => stream);
  const drained = (async () => { for await (const _ of original) { /* dropped */ } })();
  await sleep(200);
  stop();
  await drained;
  await sleep(200);
  const afterEnd = await context.resumeExistingStream("ended");
  seen.resumedAfterTheEnd = afterEnd === null ? "null: the package's \"already done\"; the text is gone" : `${afterEnd}`;

  console.log(JSON.stringify(seen));
  const keys = await publisher.keys(`${keyPrefix}:*`);
  if (keys.length > 0) {
    await publisher.del(keys);
  }
  await Promise.allSettled([publisher.quit(), subscriber.quit()]);
  process.exit(0);
}

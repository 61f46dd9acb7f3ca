import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { ApiError, type Client } from "../src/client/client.ts";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { qemuPids, removeDir, spawnDaemon, startTestDaemon, tinyGuest, waitFor, type TestDaemon } from "./helpers.ts";

/** Runs every call at once; each settles to its value or its ApiError. */
async function all<T>(calls: (() => Promise<T>)[]): Promise<(T | ApiError)[]> {
  const settled = await Promise.allSettled(calls.map((c) => c()));
  return settled.map((s) => {
    if (s.status === "fulfilled") return s.value;
    if (s.reason instanceof ApiError) return s.reason;
    throw s.reason;
  });
}

const refusals = (results: unknown[]) => results.filter((r): r is ApiError => r instanceof ApiError);
const successes = <T>(results: (T | ApiError)[]) => results.filter((r): r is T => !(r instanceof ApiError));

/** Exactly one call succeeded and every other was refused with `refusal` ("409 CODE"); returns the one. */
function onlyOne<T>(results: (T | ApiError)[], refusal: string): T {
  const accepted = successes(results);
  assert.equal(accepted.length, 1, "exactly one is accepted");
  assert.deepEqual([...new Set(refusals(results).map((e) => `${e.status} ${e.code}`))], [refusal]);
  return accepted[0] as T;
}

/**
 * Samples GET /v1/health every 20 ms while `work` runs; returns the slowest
 * answer in ms. The bound asserted on it is a promise of the daemon (no
 * request stalls the event loop), not a benchmark.
 */
/**
 * Sends requests from a worker thread, all at once, and resolves with their
 * statuses: the load has an event loop of its own, so the health sampler on
 * this thread measures the daemon and not this test's own client work.
 */
function loadFromWorker(url: string, token: string, requests: { method: string; path: string; body?: unknown }[]): Promise<number[]> {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const { url, token, requests } = workerData;
    Promise.all(requests.map((r) => fetch(url + r.path, {
      method: r.method,
      headers: { authorization: "Bearer " + token, ...(r.body ? { "content-type": "application/json" } : {}) },
      body: r.body ? JSON.stringify(r.body) : undefined,
    }).then(async (res) => { await res.arrayBuffer(); return res.status; }))).then((s) => parentPort.postMessage(s));
  `;
  const worker = new Worker(code, { eval: true, workerData: { url, token, requests } });
  return new Promise((resolve, reject) => {
    worker.once("message", (statuses: number[]) => {
      resolve(statuses);
      void worker.terminate();
    });
    worker.once("error", reject);
  });
}

async function slowestHealthDuring(client: Client, work: () => Promise<unknown>): Promise<number> {
  let slowest = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      const start = performance.now();
      await client.health();
      slowest = Math.max(slowest, performance.now() - start);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await work();
  } finally {
    running = false;
    await sampler;
  }
  process.stdout.write(`# slowest GET /v1/health meanwhile: ${slowest.toFixed(1)} ms\n`);
  return slowest;
}

describe("concurrent requests against one rule", { timeout: 900_000 }, () => {
  let t: TestDaemon;
  let imageId: string;
  const launched: string[] = [];

  before(async () => {
    // The in-process daemon: its event loop is the one /v1/health measures.
    t = await startTestDaemon(undefined, { capacity: { vcpus: 2, memoryMiB: 4096 } });
    const imported = await t.client.importImage(await tinyGuest(), { name: "tiny", osType: "linux" });
    assert.equal((await t.client.waitOperation(imported.operation.id)).state, "succeeded");
    imageId = imported.image.id;
  });

  after(async () => {
    for (const id of launched) for (const pid of await qemuPids(id)) process.kill(Number(pid), "SIGKILL");
    await t.close();
    await removeDir(t.dataDir);
  });

  const terminate = async (ids: string[]) => {
    for (const id of ids) await t.client.instanceAction(id, "terminate");
    await t.client.waitInstances(ids, "terminated", { timeoutMs: 120_000 });
  };

  it("admits exactly one of 10 concurrent launches of 2 when 2 vCPUs fit", async () => {
    const results = await all(Array.from({ length: 10 }, () => () => t.client.runInstances({ imageId, count: 2, instanceType: "is.nano" })));
    const admitted = results.filter((r) => Array.isArray(r));
    assert.equal(admitted.length, 1, "one launch fits");
    assert.deepEqual(
      refusals(results).map((e) => [e.status, e.code]),
      Array.from({ length: 9 }, () => [409, "INSUFFICIENT_CAPACITY"]),
    );
    const ids = admitted.flat().map((i) => i.id);
    launched.push(...ids);
    const live = (await t.client.listInstances()).filter((i) => i.state !== "terminated");
    assert.equal(live.length, 2, "no instance beyond the capacity was recorded");
    await terminate(ids);
  });

  it("admits exactly one of 10 concurrent launches of a specialized image", async () => {
    const imported = await t.client.importImage(await tinyGuest(), { name: "tiny-specialized", osType: "linux", osState: "specialized" });
    assert.equal((await t.client.waitOperation(imported.operation.id)).state, "succeeded");
    const results = await all(Array.from({ length: 10 }, () => () => t.client.runInstances({ imageId: imported.image.id, count: 1 })));
    const admitted = results.filter((r) => Array.isArray(r));
    assert.equal(admitted.length, 1);
    assert.deepEqual(
      [...new Set(refusals(results).map((e) => `${e.status} ${e.code}`))],
      ["409 DUPLICATE_IDENTITY"],
    );
    const ids = admitted.flat().map((i) => i.id);
    launched.push(...ids);
    await terminate(ids);
  });

  it("accepts exactly one of 10 concurrent imports with one name", async () => {
    const disk = await tinyGuest();
    const results = await all(Array.from({ length: 10 }, () => () => t.client.importImage(disk, { name: "same-name", osType: "linux" })));
    const first = onlyOne(results, "409 IMAGE_NAME_EXISTS");
    assert.equal((await t.client.waitOperation(first.operation.id)).state, "succeeded");
    assert.equal((await t.client.listImages({ name: "same-name" })).length, 1);
  });

  it("accepts exactly one of 10 concurrent captures with one name", async () => {
    const [inst] = await t.client.runInstances({ imageId, count: 1 });
    assert.ok(inst);
    launched.push(inst.id);
    await t.client.waitInstances([inst.id], "ready", { timeoutMs: 300_000 });
    const results = await all(Array.from({ length: 10 }, () => () => t.client.createImage({ instanceId: inst.id, name: "captured", noReboot: true })));
    const first = onlyOne(results, "409 IMAGE_NAME_EXISTS");
    assert.equal((await t.client.waitOperation(first.operation.id)).state, "succeeded");
    await terminate([inst.id]);
  });

  it("admits one of 10 concurrent key pairs with one name", async () => {
    onlyOne(await all(Array.from({ length: 10 }, () => () => t.client.createKeyPair("one-name"))), "409 KEYPAIR_EXISTS");
  });

  it("leaves no QEMU process behind", async () => {
    await waitFor("the launched VMs to end", async () => {
      for (const id of launched) if ((await qemuPids(id)).length > 0) return undefined;
      return true;
    }, 60_000);
  });
});

// The daemon in a process of its own, so that what is measured is its event
// loop and not this test's.
describe("no request stalls the daemon", { timeout: 600_000 }, () => {
  let h: Awaited<ReturnType<typeof spawnDaemon>>;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagesmith-stall-"));
    h = await spawnDaemon(dir);
  });

  after(async () => {
    await h.kill("SIGTERM");
    await removeDir(dir);
  });

  it("keeps /v1/health under 100 ms while 100 key pairs are generated", async () => {
    let created = 0;
    const slowest = await slowestHealthDuring(h.client, async () => {
      const statuses = await loadFromWorker(h.url, h.token, Array.from({ length: 100 }, (_, n) => ({ method: "POST", path: "/v1/keypairs", body: { name: `race-key-${n}` } })));
      created = statuses.filter((st) => st === 201).length;
    });
    assert.equal(created, 100);
    assert.ok(slowest < 100, `GET /v1/health took ${slowest.toFixed(1)} ms at worst`);
  });

  it("keeps /v1/health under 100 ms while pathological name filters run", async () => {
    const long = await h.client.importImage(await tinyGuest(), { name: "a".repeat(128), osType: "linux" });
    await h.client.waitOperation(long.operation.id);
    const pattern = `${"*a".repeat(127)}*b`;
    let answered = 0;
    const slowest = await slowestHealthDuring(h.client, async () => {
      const query = `?name=${encodeURIComponent(pattern)}&tag=${encodeURIComponent(`k=${pattern.slice(0, 200)}`)}`;
      for (let n = 0; n < 20; n++) {
        const statuses = await loadFromWorker(h.url, h.token, Array.from({ length: 10 }, () => ({ method: "GET", path: `/v1/images${query}` })));
        answered += statuses.filter((st) => st === 200).length;
      }
    });
    assert.equal(answered, 200);
    assert.ok(slowest < 100, `GET /v1/health took ${slowest.toFixed(1)} ms at worst`);
    await assert.rejects(h.client.listImages({ name: "*".repeat(300) }), (e: ApiError) => e.status === 400 && e.code === "VALIDATION_FAILED");
  });

});

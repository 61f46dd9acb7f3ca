// API benchmark: request rate and latency of the read paths with many images in the
// catalog, measured with autocannon against the daemon run as its own process (so the
// load generator does not share its event loop). Prints every figure and the ratios.
// Not a test: nothing is asserted.
//
//   node --import tsx bench/api-bench.ts [--images 10000] [--seconds 10]
import type { ChildProcess } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { Client } from "../src/client/client.ts";
import { spawnDaemon, stopDaemon } from "./tools.ts";
import { atLeast, atMost, report, timed, type Figure } from "./result.ts";

const { values } = parseArgs({ options: { images: { type: "string", default: "10000" }, seconds: { type: "string", default: "10" } } });
const imageCount = Number(values.images);
const seconds = Number(values.seconds);
const connections = 10;
const inFlight = 8; // registrations in flight while seeding
const root = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1024 * 1024;

// autocannon ships no types: the part of its API used here.
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Cannon = (o: { url: string; connections: number; duration: number; method?: string; headers?: Record<string, string>; body?: string }) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Cannon;

/** One autocannon run: a 2 s warm-up, then `seconds` measured. */
async function load(what: string, request: { url: string; method?: string; headers: Record<string, string>; body?: string }): Promise<CannonResult & { what: string }> {
  await autocannon({ ...request, connections, duration: 2 });
  return { what, ...(await autocannon({ ...request, connections, duration: seconds })) };
}

const work = await mkdtemp(join(tmpdir(), "imagesmith-api-bench-"));
const dataDir = join(work, "data");
let daemon: ChildProcess | undefined;
try {
  // bin/imagesmith.js runs dist/ only when it is the build of the current sources, else tsx.
  const buildState = (await import(join(root, "scripts/build-state.mjs"))) as { buildIsCurrent: (root: string) => boolean };
  const runs = buildState.buildIsCurrent(root) ? "dist/ (compiled)" : "src/ through tsx (dist/ is older than src/)";
  const d = await spawnDaemon(dataDir, join(work, "daemon.log"));
  const ec2Port = Number(new URL(d.ec2Url).port);
  daemon = d.child;
  const token = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();
  const client = new Client(d.url, token);
  console.log(`daemon pid ${daemon.pid}: ${d.url}, EC2 on 127.0.0.1:${ec2Port}, runs ${runs}`);

  // Seeding, the cheapest real path: one import of a small raw disk (4 MiB: an empty MBR,
  // whose boot signature a raw import requires, and 1 MiB of random bytes), then every other image registered on that import's snapshot
  // (POST /v1/images/register: a catalog insert, no disk work), `inFlight` at a time.
  const disk = join(work, "disk.raw");
  const bytes = Buffer.alloc(4 * MiB);
  bytes.writeUInt16BE(0x55aa, 510);
  randomFillSync(bytes, MiB, MiB);
  await writeFile(disk, bytes);
  const seedStart = Date.now();
  const seed = await timed(async () => {
    const { image, operation } = await client.importImage(disk, { name: "bench-0", osType: "linux", osState: "generalized" });
    const op = await client.waitOperation(operation.id);
    if (op.state !== "succeeded") throw new Error(`The import failed: ${JSON.stringify(op)}`);
    const snapshotId = (await client.getImage(image.id)).blockDeviceMappings[0]?.snapshotId ?? "";
    let next = 1;
    const worker = async () => {
      for (let i = next++; i < imageCount; i = next++) {
        await client.registerImage({ name: `bench-${i}`, snapshotId, osType: "linux", osState: "generalized" });
        if (i % 1000 === 0) console.log(`  ${i} images after ${((Date.now() - seedStart) / 1000).toFixed(0)} s …`);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    return image.id;
  });
  const imageId = seed.value;
  console.log(`seeded ${imageCount} images in ${seed.seconds.toFixed(1)} s (${(imageCount / seed.seconds).toFixed(0)} images/s: 1 import + ${imageCount - 1} registers, ${inFlight} in flight)`);

  // EC2: one DescribeImages by id, signed once (X-Amz-Date stays valid 15 minutes) and replayed.
  const key = await client.createAccessKey();
  const signer = new SignatureV4({ credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey }, region: "us-east-1", service: "ec2", sha256: Hash.bind(null, "sha256") });
  const ec2Body = `Action=DescribeImages&Version=2016-11-15&ImageId.1=${imageId}`;
  const host = `127.0.0.1:${ec2Port}`;
  const signed = await signer.sign({ method: "POST", protocol: "http:", hostname: "127.0.0.1", port: ec2Port, path: "/ec2/", query: {}, headers: { host, "content-type": "application/x-www-form-urlencoded; charset=utf-8" }, body: ec2Body });
  const ec2 = { url: `http://${host}/ec2/`, method: "POST", headers: signed.headers, body: ec2Body };
  const bearer = { authorization: `Bearer ${token}` };
  const requests = [
    ["GET /v1/images/{id}", { url: `${d.url}/v1/images/${imageId}`, headers: bearer }],
    // The list takes filters only (state, name, osState, tag, sourceInstanceId): no limit nor page.
    [`GET /v1/images (all ${imageCount})`, { url: `${d.url}/v1/images`, headers: bearer }],
    ["GET /v1/images?name=bench-42", { url: `${d.url}/v1/images?name=bench-42`, headers: bearer }],
    ["EC2 DescribeImages ImageId.1", ec2],
  ] as const;

  // Each request answered 200 once before it is loaded; the size of the answer is shown.
  const sizes = new Map<string, number>();
  for (const [what, r] of requests) {
    const { host: _host, ...headers } = r.headers as Record<string, string>;
    const res = await fetch(r.url, { method: "method" in r ? r.method : "GET", headers, body: "body" in r ? r.body : undefined });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${what}: HTTP ${res.status}: ${text.slice(0, 500)}`);
    sizes.set(what, Buffer.byteLength(text));
  }

  const results: (CannonResult & { what: string })[] = [];
  for (const [what, r] of requests) {
    console.log(`loading ${what} for ${seconds} s, ${connections} connections …`);
    results.push(await load(what, r as { url: string; headers: Record<string, string> }));
  }

  console.log();
  console.log("request".padEnd(34), "req/s".padStart(8), "p50 ms".padStart(8), "p99 ms".padStart(8), "non-2xx".padStart(8), "errors (timeouts)".padStart(18), "answer".padStart(12));
  for (const r of results) {
    const size = sizes.get(r.what) ?? 0;
    console.log(r.what.padEnd(34), r.requests.average.toFixed(0).padStart(8), r.latency.p50.toFixed(1).padStart(8), r.latency.p99.toFixed(1).padStart(8), String(r.non2xx).padStart(8), `${r.errors} (${r.timeouts})`.padStart(18), `${(size / 1024).toFixed(1)} KiB`.padStart(12));
  }
  console.log(`\n${imageCount} images; seeding ${seed.seconds.toFixed(1)} s; targets: DescribeImages by id ≥ 5000 req/s, p99 ≤ 20 ms`);

  const figures: Figure[] = [
    { name: "images in the catalog", value: imageCount, unit: "count" },
    { name: "seeding (1 import + registers)", value: seed.seconds, unit: "s" },
  ];
  for (const r of results) {
    figures.push(
      { name: `${r.what}, req/s`, value: r.requests.average, unit: "req/s" },
      { name: `${r.what}, p50`, value: r.latency.p50, unit: "ms" },
      { name: `${r.what}, p99`, value: r.latency.p99, unit: "ms" },
      { name: `${r.what}, non-2xx`, value: r.non2xx, unit: "count" },
      { name: `${r.what}, errors`, value: r.errors, unit: "count" },
      { name: `${r.what}, timeouts`, value: r.timeouts, unit: "count" },
      { name: `${r.what}, answer`, value: sizes.get(r.what) ?? 0, unit: "bytes" },
    );
  }
  const [byId, , , describe] = results;
  report({
    bench: "api",
    figures,
    ratios: [
      atLeast("DescribeImages by id, req/s", describe?.requests.average ?? 0, 5000),
      atMost("DescribeImages by id, p99 ms", describe?.latency.p99 ?? Infinity, 20),
      atLeast("GET /v1/images/{id}, req/s", byId?.requests.average ?? 0, 5000),
      atMost("GET /v1/images/{id}, p99 ms", byId?.latency.p99 ?? Infinity, 20),
    ],
    notes: [`daemon runs ${runs}`, `${connections} connections, ${seconds} s after a 2 s warm-up`, "GET /v1/images has no limit or page: the whole list is one answer"],
  });
} finally {
  if (daemon) await stopDaemon(daemon);
  await rm(work, { recursive: true, force: true });
}

import assert from "node:assert/strict";
import { request } from "node:http";
import { mkdtemp, readFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eachLimit } from "../src/core/each-limit.ts";
import { fuzzRequests, type FuzzRequest, type OpenApi } from "./fuzz-requests.ts";
import { removeDir, spawnDaemon } from "./helpers.ts";

/** The bound on the daemon's resident memory through the whole run. */
const maxRssBytes = 400 * 1024 * 1024;

interface Answer {
  status: number;
  body: string;
}

function send(url: URL, r: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: r.method, path: r.path, headers: { ...r.headers, ...(r.body ? { "content-length": String(r.body.length) } : {}) }, agent: false, timeout: 60_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c.length + body.length < 1 << 20 ? c : ""));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within 60 s to ${r.what}`)));
    // The daemon may answer and close before a large body is sent (401, 413): that is an answer.
    req.on("error", (err: NodeJS.ErrnoException) => (err.code === "EPIPE" || err.code === "ECONNRESET" ? resolve({ status: -1, body: "" }) : reject(err)));
    req.end(r.body);
  });
}

/** Writes raw bytes on a fresh connection; resolves with what came back when the daemon closes it. */
function raw(url: URL, bytes: string, options: { closeAfterMs?: number } = {}): Promise<{ reply: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const s = connect(Number(url.port), url.hostname, () => s.write(bytes));
    let reply = "";
    let closedByServer = true;
    const timer = options.closeAfterMs
      ? setTimeout(() => {
          closedByServer = false;
          s.destroy();
        }, options.closeAfterMs)
      : undefined;
    s.setEncoding("utf8");
    s.on("data", (c: string) => (reply += c));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ reply, closedByServer });
    });
  });
}

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

const statusOf = (reply: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);
const errorOf = (reply: string) => (JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)) as { error: { code: string } }).error.code;

describe("a bounded fuzzer against the API", { timeout: 900_000 }, () => {
  let d: Awaited<ReturnType<typeof spawnDaemon>>;
  let dir: string;
  let url: URL;
  let peakRss = 0;
  let sampler: NodeJS.Timeout;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagesmith-fuzz-"));
    d = await spawnDaemon(dir);
    url = new URL(d.url);
    sampler = setInterval(() => {
      rss(d.pid).then((n) => (peakRss = Math.max(peakRss, n)), () => undefined);
    }, 200);
  });

  after(async () => {
    clearInterval(sampler);
    await d.kill("SIGTERM");
    await removeDir(dir);
  });

  it("answers 1,000+ malformed requests from the OpenAPI document without a 5xx, in our error shape", async () => {
    const doc = (await (await fetch(`${d.url}/v1/openapi.json`, { headers: { authorization: `Bearer ${d.token}` } })).json()) as OpenApi;
    const requests = fuzzRequests(doc, d.token, 1000);
    assert.ok(requests.length >= 1000, `${requests.length} requests`);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    await eachLimit(requests, 6, async (r) => {
      const a = await send(url, r);
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      if (a.status >= 500) failures.push(`${r.what}: ${a.status} ${a.body.slice(0, 200)}`);
      else if (a.status >= 400 && r.method !== "HEAD") {
        const code = (JSON.parse(a.body || "{}") as { error?: { code?: unknown; message?: unknown } }).error;
        if (typeof code?.code !== "string" || !/^[A-Z][A-Z0-9_]+$/.test(code.code) || typeof code.message !== "string") {
          failures.push(`${r.what}: ${a.status} not in our error shape: ${a.body.slice(0, 200)}`);
        }
        if (a.body.includes(dir)) failures.push(`${r.what}: the answer names the data dir`);
      }
    });
    assert.deepEqual(failures, []);
    process.stdout.write(`# fuzz: ${requests.length} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}\n`);
  });

  it("answers malformed HTTP in our shape and closes the connection", async () => {
    const cases = [
      ["a bad method", "FO O /v1/images HTTP/1.1\r\nHost: x\r\n\r\n"],
      ["a bad request line", "GET\r\n\r\n"],
      ["a bad header", "GET /v1/images HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"],
      ["too large headers", `GET /v1/images HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`],
      ["a bad chunk size", `POST /v1/keypairs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`],
      ["both lengths", `POST /v1/keypairs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}`],
    ];
    for (const [what, bytes] of cases) {
      const { reply, closedByServer } = await raw(url, bytes ?? "", { closeAfterMs: 10_000 });
      assert.ok(closedByServer, `${what}: the daemon closes the connection`);
      const status = statusOf(reply);
      assert.ok(status >= 400 && status < 500, `${what}: ${reply.slice(0, 100)}`);
      assert.match(errorOf(reply), /^[A-Z_]+$/, what);
    }
  });

  it("closes an unauthenticated request with a partial body at once, with a 401", async () => {
    const { reply, closedByServer } = await raw(url, 'POST /v1/keypairs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"name":', { closeAfterMs: 10_000 });
    assert.ok(closedByServer, "the daemon closes the socket rather than wait for the body");
    assert.equal(statusOf(reply), 401);
    assert.equal(errorOf(reply), "UNAUTHORIZED");
  });

  it("survives clients that vanish mid-body and mid-upload", async () => {
    for (const path of ["/v1/keypairs", "/v1/images/import?name=gone&osType=linux"]) {
      const type = path.includes("import") ? "application/octet-stream" : "application/json";
      await raw(url, `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${d.token}\r\nContent-Type: ${type}\r\nContent-Length: 10000000\r\n\r\n${"x".repeat(5000)}`, { closeAfterMs: 300 });
    }
    const images = await d.client.listImages({ name: "gone" });
    assert.deepEqual(images, [], "a vanished upload leaves no image");
  });

  it("stays up, healthy and within its memory bound", async () => {
    assert.equal((await d.client.health()).status, "ok");
    peakRss = Math.max(peakRss, await rss(d.pid));
    process.stdout.write(`# fuzz: peak daemon RSS ${(peakRss / 1048576).toFixed(0)} MiB (bound ${maxRssBytes / 1048576} MiB)\n`);
    assert.ok(peakRss < maxRssBytes, `peak RSS ${peakRss} bytes`);
  });
});

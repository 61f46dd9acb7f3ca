import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { removeDir, spawnDaemon, startTestDaemon, type TestDaemon } from "./helpers.ts";

const run = promisify(execFile);

/** The files below dir that hold text, as grep -r -a -F finds it (never a regular expression: a secret holds + and /). */
async function filesHolding(dir: string, text: string): Promise<string> {
  const { stdout } = await run("grep", ["-r", "-a", "-l", "-F", "--", text, dir]).catch((e: { code?: number; stdout?: string }) => {
    if (e.code === 1) return { stdout: "" };
    throw e;
  });
  return stdout;
}

describe("access keys for the EC2 endpoint", { timeout: 120_000 }, () => {
  let t: TestDaemon;
  let dir: string;
  let id = "";
  let secret = "";

  const call = async (method: string, path: string, token: string | null = t.token) => {
    const res = await fetch(new URL(path, t.daemon.url), { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> & { error?: { code: string } } };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagesmith-access-keys-"));
    t = await startTestDaemon(dir);
  });
  after(async () => {
    await t?.close();
    await removeDir(dir);
  });

  it("accesskey create --output json prints a 20-character AKIA id and a 40-character secret", async () => {
    const r = await t.cli(["--output", "json", "accesskey", "create"]);
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout) as { accessKeyId: string; secretAccessKey: string };
    assert.deepEqual(Object.keys(created).sort(), ["accessKeyId", "createdAt", "secretAccessKey"]);
    assert.match(created.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
    assert.equal(created.accessKeyId.length, 20);
    assert.equal(created.secretAccessKey.length, 40);
    assert.match(created.secretAccessKey, /^[\x21-\x7e]{40}$/);
    ({ accessKeyId: id, secretAccessKey: secret } = created);
  });

  it("prints the secret in a table too, once, and POST /v1/access-keys answers 201 {accessKeyId, secretAccessKey, createdAt}", async () => {
    const table = await t.cli(["accesskey", "create"]);
    assert.equal(table.code, 0, table.stderr);
    const [header, row, ...rest] = table.stdout.trim().split("\n");
    assert.match(header ?? "", /^ACCESSKEYID\s+SECRETACCESSKEY\s+CREATEDAT$/);
    assert.match(row ?? "", /^AKIA[A-Z2-7]{16}\s+\S{40}\s+\S+$/);
    assert.deepEqual(rest, []);
    assert.match(table.stderr, /cannot be shown again/);
    const http = await call("POST", "/v1/access-keys");
    assert.equal(http.status, 201);
    assert.deepEqual(Object.keys(http.body).sort(), ["accessKeyId", "createdAt", "secretAccessKey"]);
    for (const other of [row?.split(/\s+/)[0] ?? "", String(http.body.accessKeyId)]) {
      assert.equal((await t.cli(["accesskey", "delete", other])).code, 0);
    }
  });

  it("accesskey list shows the key without its secret, as a table and as JSON", async () => {
    const table = await t.cli(["accesskey", "list"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ACCESSKEYID\s+CREATEDAT\s+LASTUSEDAT\n/);
    assert.match(table.stdout, new RegExp(`^${id}\\s+\\S+\\s+-$`, "m"));
    const json = await t.cli(["--output", "json", "accesskey", "list"]);
    const keys = JSON.parse(json.stdout) as Record<string, unknown>[];
    assert.deepEqual(keys.map((k) => k.accessKeyId), [id]);
    assert.deepEqual(Object.keys(keys[0] ?? {}).sort(), ["accessKeyId", "createdAt", "lastUsedAt"]);
    for (const out of [table.stdout, json.stdout, JSON.stringify((await call("GET", "/v1/access-keys")).body)]) {
      assert.ok(!out.includes(secret), "no secret in a listing");
      assert.ok(!out.includes("v1:"), "no sealed secret in a listing");
    }
  });

  it("keeps the encryption key in DATA_DIR/access-key-secret.key, 32 bytes of mode 0600", async () => {
    const file = join(dir, "access-key-secret.key");
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await readFile(file)).length, 32);
  });

  it("gives the same secret to the SigV4 verifier after a restart on the same data dir", async () => {
    assert.equal(t.daemon.services.accessKeys.secretFor(id), secret);
    await t.close();
    t = await startTestDaemon(dir);
    assert.equal(t.daemon.services.accessKeys.secretFor(id), secret);
    assert.equal(t.daemon.services.accessKeys.secretFor("AKIAAAAAAAAAAAAAAAAA"), undefined);
  });

  it("stores the secret nowhere in the data dir in plaintext", async () => {
    // The daemon closed once above, so the catalog's WAL was checkpointed into catalog.db too.
    assert.ok((await filesHolding(dir, id)).includes("catalog.db"), "the grep finds what the catalog does hold");
    assert.equal(await filesHolding(dir, secret), "");
  });

  it("accesskey delete removes the key; deleting it again exits 1 with ACCESS_KEY_NOT_FOUND", async () => {
    const del = await t.cli(["accesskey", "delete", id]);
    assert.equal(del.code, 0, del.stderr);
    assert.deepEqual(await t.client.listAccessKeys(), []);
    assert.equal(t.daemon.services.accessKeys.secretFor(id), undefined);
    const again = await t.cli(["accesskey", "delete", id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /ACCESS_KEY_NOT_FOUND/);
    const bad = await t.cli(["accesskey", "delete", "AKIA-not-a-key"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /INVALID_ACCESS_KEY_ID/);
  });

  it("refuses every access key route without a valid bearer token with 401", async () => {
    for (const [method, path] of [["GET", "/v1/access-keys"], ["POST", "/v1/access-keys"], ["DELETE", "/v1/access-keys/AKIAAAAAAAAAAAAAAAAA"]] as const) {
      for (const token of [null, "ism_wrong"]) {
        const r = await call(method, path, token);
        assert.deepEqual([r.status, r.body.error?.code], [401, "UNAUTHORIZED"], `${method} ${path}`);
      }
    }
    assert.deepEqual(await t.client.listAccessKeys(), [], "no key was made by the refused POST");
  });

  it("describes the routes in the OpenAPI document, the secret only in the create answer", async () => {
    type Op = { responses: Record<string, { content?: { "application/json"?: { schema?: { properties?: Record<string, unknown> } } } }> };
    const doc = (await call("GET", "/v1/openapi.json")).body as { paths: Record<string, Record<string, Op>> };
    const props = (op: Op | undefined, status: string) => Object.keys(op?.responses[status]?.content?.["application/json"]?.schema?.properties ?? {}).sort();
    assert.deepEqual(props(doc.paths["/v1/access-keys"]?.post, "201"), ["accessKeyId", "createdAt", "secretAccessKey"]);
    assert.deepEqual(props(doc.paths["/v1/access-keys"]?.get, "200"), ["accessKeys"]);
    assert.ok(!JSON.stringify(doc.paths["/v1/access-keys"]?.get?.responses).includes("secret"), "no secret field in a listing");
    assert.ok(doc.paths["/v1/access-keys/{id}"]?.delete?.responses["204"]);
  });
});

describe("the daemon's log", { timeout: 120_000 }, () => {
  it("holds the create request at info level, but not the secret it answered with", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-access-keys-log-"));
    const logFile = join(dir, "..", `${dir.split("/").pop() ?? ""}.log`);
    const d = await spawnDaemon(dir, { logFile });
    let secret = "";
    try {
      const r = await d.cli(["--output", "json", "accesskey", "create"]);
      assert.equal(r.code, 0, r.stderr);
      secret = (JSON.parse(r.stdout) as { secretAccessKey: string }).secretAccessKey;
      await d.cli(["accesskey", "list"]);
    } finally {
      await d.kill("SIGTERM");
    }
    const log = await readFile(logFile, "utf8");
    assert.match(log, /"url":"\/v1\/access-keys"/, "request logging is on, so the check below means something");
    assert.equal(secret.length, 40);
    assert.ok(!log.includes(secret), "the secret is not in the log");
    await removeDir(dir);
    await removeDir(logFile);
  });
});

import assert from "node:assert/strict";
import { readdir, truncate, writeFile, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { removeDir, startTestDaemon, tinyGuest, type TestDaemon } from "./helpers.ts";

describe("HTTP API edges", { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let disk: string;

  const call = async (method: string, path: string, options: { token?: string | null; json?: unknown; body?: Buffer } = {}) => {
    const headers: Record<string, string> = {};
    const token = options.token === undefined ? d.token : options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.body) {
      headers["content-type"] = "application/octet-stream";
      body = options.body;
    }
    const res = await fetch(new URL(path, d.daemon.url), { method, headers, body: body as RequestInit["body"] });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as { error?: { code: string; message: string } } & Record<string, unknown> };
  };

  before(async () => {
    d = await startTestDaemon();
    disk = await tinyGuest();
  });
  after(async () => {
    await d?.close();
    if (d) await removeDir(d.dataDir);
  });

  it("answers the health check without a token", async () => {
    const r = await call("GET", "/v1/health", { token: null });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "ok");
  });

  it("refuses a call without a token, or with a wrong one, with 401", async () => {
    for (const token of [null, "ism_wrong"]) {
      const r = await call("GET", "/v1/images", { token });
      assert.equal(r.status, 401);
      assert.equal(r.body.error?.code, "UNAUTHORIZED");
    }
  });

  it("refuses an unknown field with 400 UNKNOWN_FIELD", async () => {
    const r = await call("POST", "/v1/keypairs", { json: { name: "k1", colour: "blue" } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error?.code, "UNKNOWN_FIELD");
    assert.match(r.body.error?.message ?? "", /colour/);
    const q = await call("GET", "/v1/images?flavour=x");
    assert.equal(q.status, 400);
    assert.equal(q.body.error?.code, "UNKNOWN_FIELD");
  });

  it("answers unknown ids with 404 and a stable code", async () => {
    assert.equal((await call("GET", "/v1/instances/i-00000000000000000")).body.error?.code, "INSTANCE_NOT_FOUND");
    assert.equal((await call("GET", "/v1/images/ami-00000000000000000")).body.error?.code, "IMAGE_NOT_FOUND");
    assert.equal((await call("GET", "/v1/operations/op-00000000000000000")).status, 404);
    const run = await call("POST", "/v1/instances", { json: { imageId: "ami-00000000000000000" } });
    assert.deepEqual([run.status, run.body.error?.code], [404, "IMAGE_NOT_FOUND"]);
  });

  it("refuses a malformed disk file with 400 and leaves no image record or upload behind", async () => {
    const garbage = Buffer.from("this is not a disk image\n".repeat(100));
    const r = await call("POST", "/v1/images/import?name=bad&osType=linux", { body: garbage });
    assert.equal(r.status, 400);
    assert.equal(r.body.error?.code, "INVALID_DISK_IMAGE");
    const truncated = join(d.dataDir, "..", "truncated.qcow2");
    await copyFile(disk, truncated);
    await truncate(truncated, 200_000);
    const cli = await d.cli(["image", "import", "--file", truncated, "--name", "bad2", "--os", "linux"]);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /INVALID_DISK_IMAGE/);
    assert.deepEqual((await call("GET", "/v1/images?state=failed")).body.images, []);
    assert.deepEqual((await call("GET", "/v1/images")).body.images, []);
    assert.deepEqual(await readdir(join(d.dataDir, "tmp")), []);
  });

  it("refuses an illegal transition with 409 INVALID_INSTANCE_STATE", async () => {
    const imported = await d.client.importImage(disk, { name: "tiny", osType: "linux" });
    const op = await d.client.waitOperation(imported.operation.id);
    assert.equal(op.state, "succeeded");
    const [inst] = await d.client.runInstances({ imageId: imported.image.id, count: 1 });
    assert.ok(inst);
    const r = await call("POST", `/v1/instances/${inst.id}/start`);
    assert.equal(r.status, 409);
    assert.equal(r.body.error?.code, "INVALID_INSTANCE_STATE");
    assert.match(r.body.error?.message ?? "", new RegExp(`Cannot start instance ${inst.id}: it is pending`));
    await d.client.instanceAction(inst.id, "terminate");
    await d.client.waitInstances([inst.id], "terminated", { timeoutMs: 120_000 });
    const again = await call("POST", `/v1/instances/${inst.id}/stop`);
    assert.deepEqual([again.status, again.body.error?.code], [409, "INVALID_INSTANCE_STATE"]);
  });

  it("refuses a duplicate key pair name with 409 and a bad public key with 400", async () => {
    await writeFile(join(d.dataDir, "..", "x.pub"), "ssh-rsa AAAAnot-base64");
    assert.equal((await call("POST", "/v1/keypairs", { json: { name: "dup" } })).status, 201);
    assert.equal((await call("POST", "/v1/keypairs", { json: { name: "dup" } })).body.error?.code, "KEYPAIR_EXISTS");
    const bad = await call("POST", "/v1/keypairs", { json: { name: "bad", publicKey: "ssh-rsa AAAAnot-base64" } });
    assert.deepEqual([bad.status, bad.body.error?.code], [400, "INVALID_PUBLIC_KEY"]);
  });

  it("serves the OpenAPI document generated from the route schemas", async () => {
    const r = await call("GET", "/v1/openapi.json");
    assert.equal(r.status, 200);
    const paths = r.body.paths as Record<string, unknown>;
    for (const p of ["/v1/instances", "/v1/instances/{id}/stop", "/v1/images/import", "/v1/keypairs", "/v1/operations/{id}"]) {
      assert.ok(paths[p], `OpenAPI lacks ${p}`);
    }
    assert.equal((await call("GET", "/v1/openapi.json", { token: null })).status, 401);
  });
});

import assert from "node:assert/strict";
import { readdir, truncate, writeFile, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Image, Instance } from "../src/client/client.ts";
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
    for (const p of ["/v1/instances", "/v1/instances/{id}/stop", "/v1/images/import", "/v1/images/{id}/copy", "/v1/keypairs", "/v1/operations/{id}", "/v1/tags", "/v1/tags/delete"]) {
      assert.ok(paths[p], `OpenAPI lacks ${p}`);
    }
    assert.equal((await call("GET", "/v1/openapi.json", { token: null })).status, 401);
  });

  describe("EC2 additions: client tokens, tags, image copies", () => {
    let image: Image;
    let inst: Instance;
    const token = "launch-once-1";

    before(async () => {
      image = (await d.client.listImages({ name: "tiny" }))[0] as Image;
      assert.ok(image, "the tiny image of the transition test");
    });

    it("launches once for one client token, however often and however concurrently it is sent", async () => {
      const req = { imageId: image.id, count: 1, clientToken: token };
      const answers = await Promise.all(Array.from({ length: 4 }, () => d.client.runInstances(req)));
      assert.equal(new Set(answers.flat().map((i) => i.id)).size, 1, "one instance for four calls");
      inst = answers[0]?.[0] as Instance;
      assert.match(inst.reservationId, /^r-[0-9a-f]{17}$/);
      assert.equal(inst.clientToken, token);
      const again = await call("POST", "/v1/instances", { json: req });
      assert.equal(again.status, 201);
      assert.deepEqual((again.body.instances as Instance[]).map((i) => [i.id, i.reservationId]), [[inst.id, inst.reservationId]]);
      for (const other of [{ count: 2 }, { instanceType: "is.micro" }, { keyName: "dup" }]) {
        const r = await call("POST", "/v1/instances", { json: { ...req, ...other } });
        assert.deepEqual([r.status, r.body.error?.code], [409, "IDEMPOTENT_PARAMETER_MISMATCH"], JSON.stringify(other));
      }
      for (const bad of ["", "x".repeat(65), "tab\there", "é"]) {
        const r = await call("POST", "/v1/instances", { json: { ...req, clientToken: bad } });
        assert.deepEqual([r.status, r.body.error?.code], [400, "VALIDATION_FAILED"], JSON.stringify(bad));
      }
      assert.deepEqual((await d.client.listInstances()).filter((i) => i.clientToken === token).map((i) => i.id), [inst.id]);
      const [plain] = (await d.client.listInstances()).filter((i) => i.clientToken === null);
      assert.match(plain?.reservationId ?? "", /^r-[0-9a-f]{17}$/, "a launch without a token has its reservation too");
    });

    it("tags an image, its snapshot, a volume and an instance at once; refuses all of it when one is refused; deletes as EC2", async () => {
      const snap = image.blockDeviceMappings[0]?.snapshotId ?? "";
      const vol = await d.client.createVolume({ sizeGiB: 1 });
      const ids = [image.id, snap, vol.id, inst.id];
      await d.client.createTags(ids, { env: "test", team: "a" });
      const listed = await d.client.listTags();
      for (const [id, type] of [[image.id, "image"], [snap, "snapshot"], [vol.id, "volume"], [inst.id, "instance"]]) {
        const mine = listed.filter((x) => x.resourceId === id);
        assert.deepEqual(mine.map((x) => [x.resourceType, x.key, x.value]), [[type, "env", "test"], [type, "team", "a"]], id);
      }
      assert.deepEqual((await d.client.getInstance(inst.id)).tags, { env: "test", team: "a" });
      assert.deepEqual((await d.client.listImages({ tag: ["team=a"] })).map((i) => i.id), [image.id], "the image filter sees them");
      // One resource refused: nothing is written anywhere.
      const refusals: [unknown, number, string][] = [
        [{ resourceIds: [image.id, "vol-00000000000000000"], tags: { new: "x" } }, 404, "VOLUME_NOT_FOUND"],
        [{ resourceIds: [image.id, "op-00000000000000000"], tags: { new: "x" } }, 400, "VALIDATION_FAILED"],
        [{ resourceIds: [image.id], tags: { "aws:new": "x" } }, 400, "RESERVED_TAG_KEY"],
        [{ resourceIds: [image.id], tags: { "imagesmith:new": "x" } }, 400, "RESERVED_TAG_KEY"],
        [{ resourceIds: [image.id], tags: { ["k".repeat(129)]: "x" } }, 400, "VALIDATION_FAILED"],
        [{ resourceIds: [vol.id, image.id], tags: Object.fromEntries(Array.from({ length: 49 }, (_, n) => [`k${n}`, "v"])) }, 400, "TAG_LIMIT_EXCEEDED"],
      ];
      for (const [body, status, code] of refusals) {
        const r = await call("POST", "/v1/tags", { json: body });
        assert.deepEqual([r.status, r.body.error?.code], [status, code], JSON.stringify(body).slice(0, 80));
      }
      assert.deepEqual((await d.client.listTags()).filter((x) => ids.includes(x.resourceId)).length, 8, "still the 8 tags, no more");
      // DeleteTags: a value that differs keeps the tag; a key alone removes it; no tags removes every user tag.
      await d.client.deleteTags([image.id, snap], [{ key: "env", value: "prod" }, { key: "team" }]);
      assert.deepEqual((await d.client.getImage(image.id)).tags, { env: "test" });
      assert.deepEqual((await d.client.getSnapshot(snap)).tags, { env: "test" });
      await d.client.deleteTags([image.id, snap, vol.id]);
      assert.deepEqual((await d.client.listTags()).filter((x) => x.resourceId !== inst.id), []);
      await d.client.deleteVolume(vol.id);
    });

    it("replays a client token after the termination, and a terminated instance shows and takes no tags", async () => {
      await d.client.instanceAction(inst.id, "terminate");
      await d.client.waitInstances([inst.id], "terminated", { timeoutMs: 120_000 });
      const replay = await d.client.runInstances({ imageId: image.id, count: 1, clientToken: token });
      assert.deepEqual(replay.map((i) => [i.id, i.state]), [[inst.id, "terminated"]], "nothing launched again");
      assert.ok(!(await d.client.listTags()).some((x) => x.resourceId === inst.id));
      const r = await call("POST", "/v1/tags", { json: { resourceIds: [inst.id], tags: { late: "x" } } });
      assert.deepEqual([r.status, r.body.error?.code], [409, "INVALID_INSTANCE_STATE"]);
    });

    it("copies an image at no storage cost, and deregistering the copy with its snapshots keeps the source's", async () => {
      await d.client.createTags([image.id], { team: "a" });
      const copy = await d.client.copyImage(image.id, { name: "tiny-copy", copyTags: true, tags: { env: "copy" } });
      assert.equal(copy.state, "available");
      assert.notEqual(copy.id, image.id);
      assert.deepEqual(copy.blockDeviceMappings, image.blockDeviceMappings, "the same snapshots");
      assert.deepEqual([copy.osType, copy.osState, copy.defaultUser, copy.virtualSize], [image.osType, image.osState, image.defaultUser, image.virtualSize]);
      assert.deepEqual(copy.tags, { team: "a", env: "copy" });
      const clash = await call("POST", `/v1/images/${image.id}/copy`, { json: { name: "tiny-copy" } });
      assert.deepEqual([clash.status, clash.body.error?.code], [409, "IMAGE_NAME_EXISTS"]);
      const dereg = await d.client.deregisterImage(copy.id, true);
      assert.deepEqual(dereg.deletedSnapshots, []);
      assert.match(dereg.keptSnapshots[0]?.reason ?? "", new RegExp(`image ${image.id} uses it`));
      assert.equal((await d.client.getSnapshot(image.blockDeviceMappings[0]?.snapshotId ?? "")).state, "completed");
      const gone = await call("POST", `/v1/images/${copy.id}/copy`, { json: { name: "copy-of-gone" } });
      assert.deepEqual([gone.status, gone.body.error?.code], [409, "IMAGE_NOT_AVAILABLE"]);
    });
  });
});

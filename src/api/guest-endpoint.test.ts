import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import type { GuestMetadata, GuestReport } from "../core/ports.ts";
import { HttpGuestEndpoints } from "./guest-endpoint.ts";

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function send(socketPath: string, method: string, path: string, body = ""): Promise<Reply> {
  return new Promise((resolve) => {
    const req = request({ socketPath, method, path, headers: { "content-type": "application/x-www-form-urlencoded" } }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString("utf8"), headers: res.headers }));
    });
    req.on("error", () => resolve({ status: -1, body: "", headers: {} })); // the endpoint cut the request off
    req.end(body);
  });
}

const a = "i-0aaaaaaaaaaaaaaaa";
const b = "i-0bbbbbbbbbbbbbbbb";
// Base64 of 256 bytes, as an RSA-2048 ciphertext is.
const cipher = Buffer.alloc(256, 7).toString("base64");

describe("the guest endpoint", () => {
  let dir: string;
  let endpoints: HttpGuestEndpoints;
  const warnings: object[] = [];
  const reports: { instance: string; report: GuestReport }[] = [];
  const admin = new Map<string, string | null>();
  const metadata = new Map<string, GuestMetadata>([
    [a, { uuid: a, hostname: "win-a", publicKeys: { "key-a": "ssh-rsa AAAA a" }, userData: "<powershell>echo a</powershell>" }],
    [b, { uuid: b, hostname: null, publicKeys: {}, userData: null }],
  ]);
  const sock = (id: string) => join(dir, `${id}.sock`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagesmith-guest-endpoint-"));
    endpoints = new HttpGuestEndpoints({ warn: (obj) => warnings.push(obj) });
    for (const id of [a, b]) {
      await endpoints.open(id, sock(id), {
        onReport: (report) => reports.push({ instance: id, report }),
        adminPassword: () => admin.get(id) ?? null,
        metadata: () => metadata.get(id) ?? assert.fail(`no metadata for ${id}`),
      });
    }
  });

  beforeEach(() => {
    reports.length = 0;
  });

  after(async () => {
    await endpoints.closeAll();
    await rm(dir, { recursive: true, force: true });
  });

  it("takes a phone-home as cloud-init posts it", async () => {
    assert.equal((await send(sock(a), "POST", `/phone-home/${a}`, `instance_id=${a}&hostname=web-1`)).status, 200);
    assert.deepEqual(reports, [{ instance: a, report: { kind: "phone-home", claimedInstanceId: a, hostname: "web-1" } }]);
  });

  it("counts a report for the instance whose socket it came on, whatever the guest claims", async () => {
    assert.equal((await send(sock(b), "POST", `/phone-home/${a}`, `instance_id=${a}`)).status, 200);
    assert.deepEqual(reports, [{ instance: b, report: { kind: "phone-home", claimedInstanceId: a, hostname: null } }]);
    assert.ok(warnings.length > 0, "the false claim is logged");
  });

  it("drops fields that are not short printable text", async () => {
    await send(sock(a), "POST", `/phone-home/${a}`, `hostname=${encodeURIComponent("a\u0000b\n")}&instance_id=${"x".repeat(300)}`);
    assert.deepEqual(reports.pop()?.report, { kind: "phone-home", claimedInstanceId: a, hostname: null }, "an overlong claim falls back to the path");
  });

  it("serves each instance its own meta_data.json, at latest and at the versions cloudbase-init asks for", async () => {
    for (const version of ["latest", "2013-04-04", "2012-08-10"]) {
      const reply = await send(sock(a), "GET", `/openstack/${version}/meta_data.json`);
      assert.equal(reply.status, 200);
      assert.equal(reply.headers["content-type"], "application/json");
      assert.deepEqual(JSON.parse(reply.body), { uuid: a, hostname: "win-a", name: "win-a", public_keys: { "key-a": "ssh-rsa AAAA a" }, launch_index: 0, availability_zone: "nova" });
    }
    assert.equal((JSON.parse((await send(sock(b), "GET", "/openstack/latest/meta_data.json")).body) as { uuid: string }).uuid, b);
    assert.equal((await send(sock(a), "GET", "/openstack/1999-01-01/meta_data.json")).status, 404);
    assert.equal((await send(sock(a), "GET", "/openstack/latest/network_data.json")).status, 404, "cloudbase-init falls back to meta_data.json");
  });

  it("lists the versions and each version's files", async () => {
    assert.deepEqual((await send(sock(a), "GET", "/openstack")).body.split("\n"), ["2012-08-10", "2013-04-04", "latest"]);
    assert.deepEqual((await send(sock(a), "GET", "/openstack/latest/")).body.split("\n"), ["meta_data.json", "password", "user_data"]);
    assert.deepEqual((await send(sock(b), "GET", "/openstack/2012-08-10")).body.split("\n"), ["meta_data.json"]);
  });

  it("serves user_data byte for byte, and 404 when the instance has none", async () => {
    assert.deepEqual(await send(sock(a), "GET", "/openstack/latest/user_data").then((r) => [r.status, r.body]), [200, "<powershell>echo a</powershell>"]);
    assert.equal((await send(sock(b), "GET", "/openstack/latest/user_data")).status, 404);
  });

  it("takes cloudbase-init's encrypted password on A's socket for A only, once, and gives it back on GET", async () => {
    assert.deepEqual(await send(sock(a), "GET", "/openstack/2013-04-04/password").then((r) => [r.status, r.body]), [200, ""], "empty: not set yet");
    assert.equal((await send(sock(a), "POST", "/openstack/2013-04-04/password", cipher)).status, 200);
    assert.deepEqual(reports, [{ instance: a, report: { kind: "password", passwordData: cipher } }]);
    assert.equal((await send(sock(a), "POST", "/openstack/latest/password", cipher)).status, 409, "cloudbase-init reads 409 as already set");
    assert.equal((await send(sock(a), "GET", "/openstack/2013-04-04/password")).body, cipher);
    assert.equal((await send(sock(b), "GET", "/openstack/2013-04-04/password")).body, "", "B's endpoint knows nothing of A's");
    assert.equal(reports.length, 1);
  });

  it("refuses a password that is not base64 or is longer than 4096 characters, and takes none on the old version", async () => {
    assert.equal((await send(sock(b), "POST", "/openstack/2013-04-04/password", "not base64!")).status, 400);
    assert.equal((await send(sock(b), "POST", "/openstack/latest/password", "QUJD".repeat(1025))).status, 400);
    assert.equal((await send(sock(b), "POST", "/openstack/2012-08-10/password", cipher)).status, 405);
    assert.deepEqual(reports, []);
    assert.equal((await send(sock(b), "GET", "/openstack/latest/password")).body, "", "a refused password is not kept");
  });

  it("serves the admin password once, as plain text that is not cached, then 404", async () => {
    admin.set(a, "S3cret-pass!");
    const first = await send(sock(a), "GET", "/imagesmith/admin-password");
    assert.deepEqual([first.status, first.body, first.headers["content-type"], first.headers["cache-control"]], [200, "S3cret-pass!", "text/plain", "no-store"]);
    assert.equal((await send(sock(a), "GET", "/imagesmith/admin-password")).status, 404);
    assert.equal((await send(sock(b), "GET", "/imagesmith/admin-password")).status, 404, "none for B");
  });

  it("takes the answer file's password-set confirmation", async () => {
    assert.equal((await send(sock(b), "POST", "/imagesmith/password-set")).status, 200);
    assert.deepEqual(reports, [{ instance: b, report: { kind: "password-set" } }]);
  });

  it("refuses other routes and methods and oversized bodies, reporting nothing", async () => {
    assert.equal((await send(sock(a), "GET", `/phone-home/${a}`)).status, 404);
    assert.equal((await send(sock(a), "POST", "/../../admin-token")).status, 404);
    assert.equal((await send(sock(a), "POST", `/phone-home/${"x".repeat(100)}`)).status, 404);
    assert.equal((await send(sock(a), "POST", "/openstack/latest/meta_data.json", "x")).status, 405);
    for (const path of [`/phone-home/${a}`, "/openstack/latest/password", "/imagesmith/password-set"]) {
      const big = (await send(sock(b), "POST", path, "a=".padEnd(64 * 1024, "x"))).status;
      assert.ok(big === 413 || big === -1, `an oversized body on ${path} is refused (${big})`);
    }
    assert.deepEqual(reports, []);
  });
});

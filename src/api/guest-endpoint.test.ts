import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { GuestReport } from "../core/ports.ts";
import { HttpGuestEndpoints } from "./guest-endpoint.ts";

function send(socketPath: string, method: string, path: string, body = ""): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ socketPath, method, path, headers: { "content-type": "application/x-www-form-urlencoded" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(-1)); // the endpoint cut the request off
    req.end(body);
  });
}

describe("the guest endpoint", () => {
  let dir: string;
  let endpoints: HttpGuestEndpoints;
  const warnings: object[] = [];
  const reports: { instance: string; report: GuestReport }[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagesmith-guest-endpoint-"));
    endpoints = new HttpGuestEndpoints({ warn: (obj) => warnings.push(obj) });
    for (const id of ["i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb"]) {
      await endpoints.open(id, join(dir, `${id}.sock`), (report) => reports.push({ instance: id, report }));
    }
  });

  after(async () => {
    await endpoints.closeAll();
    await rm(dir, { recursive: true, force: true });
  });

  it("takes a phone-home as cloud-init posts it", async () => {
    assert.equal(await send(join(dir, "i-0aaaaaaaaaaaaaaaa.sock"), "POST", "/phone-home/i-0aaaaaaaaaaaaaaaa", "instance_id=i-0aaaaaaaaaaaaaaaa&hostname=web-1"), 200);
    assert.deepEqual(reports.pop(), { instance: "i-0aaaaaaaaaaaaaaaa", report: { kind: "phone-home", claimedInstanceId: "i-0aaaaaaaaaaaaaaaa", hostname: "web-1" } });
  });

  it("counts a report for the instance whose socket it came on, whatever the guest claims", async () => {
    assert.equal(await send(join(dir, "i-0bbbbbbbbbbbbbbbb.sock"), "POST", "/phone-home/i-0aaaaaaaaaaaaaaaa", "instance_id=i-0aaaaaaaaaaaaaaaa"), 200);
    const last = reports.pop();
    assert.equal(last?.instance, "i-0bbbbbbbbbbbbbbbb");
    assert.equal(last?.report.claimedInstanceId, "i-0aaaaaaaaaaaaaaaa");
    assert.ok(warnings.length > 0, "the false claim is logged");
  });

  it("drops fields that are not short printable text", async () => {
    await send(join(dir, "i-0aaaaaaaaaaaaaaaa.sock"), "POST", "/phone-home/i-0aaaaaaaaaaaaaaaa", `hostname=${encodeURIComponent("a\u0000b\n")}&instance_id=${"x".repeat(300)}`);
    const last = reports.pop();
    assert.equal(last?.report.hostname, null);
    assert.equal(last?.report.claimedInstanceId, "i-0aaaaaaaaaaaaaaaa", "an overlong claim falls back to the path");
  });

  it("refuses other routes and methods and oversized bodies, reporting nothing", async () => {
    const sock = join(dir, "i-0aaaaaaaaaaaaaaaa.sock");
    assert.equal(await send(sock, "GET", "/phone-home/i-0aaaaaaaaaaaaaaaa"), 404);
    assert.equal(await send(sock, "POST", "/../../admin-token"), 404);
    assert.equal(await send(sock, "POST", `/phone-home/${"x".repeat(100)}`), 404);
    const big = await send(sock, "POST", "/phone-home/i-0aaaaaaaaaaaaaaaa", "a=".padEnd(64 * 1024, "x"));
    assert.ok(big === 413 || big === -1, `an oversized body is refused (${big})`);
    assert.deepEqual(reports, []);
  });
});

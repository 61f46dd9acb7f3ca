import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { test } from "node:test";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { Ec2Error } from "./ec2-error.ts";
import { readClaim, verifySignature } from "./sigv4.ts";

const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const body = "Action=DescribeImages&Version=2016-11-15";

/** A request signed as a client signs it, with node's headers (lower-case). */
async function signed(options: { region?: string; at?: Date; extra?: Record<string, string>; body?: string } = {}) {
  const signer = new SignatureV4({ credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: secret }, region: options.region ?? "us-east-1", service: "ec2", sha256: Hash.bind(null, "sha256") });
  const b = options.body ?? body;
  const req = await signer.sign(
    { method: "POST", protocol: "http:", hostname: "127.0.0.1", port: 8788, path: "/ec2/", query: {}, headers: { host: "127.0.0.1:8788", "content-type": "application/x-www-form-urlencoded; charset=utf-8", ...options.extra }, body: b },
    { signingDate: options.at ?? new Date() },
  );
  const headers: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  return { headers, body: Buffer.from(b) };
}

async function verify(r: { headers: IncomingHttpHeaders; body: Buffer }, key = secret): Promise<void> {
  const claim = readClaim(r.headers);
  await verifySignature(claim, key, { method: "POST", path: "/ec2/", headers: r.headers, body: r.body });
}

const fails = async (p: Promise<unknown>, code: string) => {
  await assert.rejects(p, (err: unknown) => err instanceof Ec2Error && err.code === code);
};

test("a request signed with the key's secret verifies, in any region", async () => {
  await verify(await signed());
  await verify(await signed({ region: "eu-west-3" }));
  await verify(await signed({ extra: { "x-amz-content-sha256": createHash("sha256").update(body).digest("hex") } }));
});

test("a wrong secret, a tampered body or a tampered signed header is AuthFailure", async () => {
  await fails(verify(await signed(), `${secret}x`), "AuthFailure");
  const r = await signed();
  await fails(verify({ ...r, body: Buffer.from(body.replace("DescribeImages", "DeregisterImage")) }), "AuthFailure");
  await fails(verify({ ...r, headers: { ...r.headers, "content-type": "text/plain" } }), "AuthFailure");
  await fails(verify({ ...r, headers: { ...r.headers, host: "evil:80" } }), "AuthFailure");
});

test("x-amz-content-sha256 must be the hash of the raw body", async () => {
  const r = await signed({ extra: { "x-amz-content-sha256": createHash("sha256").update("other").digest("hex") } });
  await fails(verify(r), "AuthFailure");
});

test("exactly the client's signed headers are signed: an unsigned header may change, a dropped one may not", async () => {
  const r = await signed();
  await verify({ ...r, headers: { ...r.headers, "user-agent": "changed", "x-unsigned": "1" } });
  const auth = String(r.headers.authorization).replace("SignedHeaders=content-type;", "SignedHeaders=");
  await fails(verify({ ...r, headers: { ...r.headers, authorization: auth } }), "AuthFailure");
});

test("a date more than 15 minutes off is RequestExpired; within is fine", async () => {
  await fails(verify(await signed({ at: new Date(Date.now() - 16 * 60_000) })), "RequestExpired");
  await fails(verify(await signed({ at: new Date(Date.now() + 16 * 60_000) })), "RequestExpired");
  await verify(await signed({ at: new Date(Date.now() - 14 * 60_000) }));
});

test("malformed, unsigned or foreign-service headers are AuthFailure before any secret is used", () => {
  assert.throws(() => readClaim({}), (e: unknown) => e instanceof Ec2Error && e.code === "AuthFailure");
  assert.throws(() => readClaim({ authorization: "Bearer x" }), (e: unknown) => e instanceof Ec2Error && e.code === "AuthFailure");
  const s3 = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261202/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0".repeat(64);
  assert.throws(() => readClaim({ authorization: s3, "x-amz-date": "20261202T000000Z" }), (e: unknown) => e instanceof Ec2Error && e.code === "AuthFailure" && /service s3/.test(e.message));
});

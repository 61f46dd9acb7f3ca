import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { Ec2Error } from "./ec2-error.ts";

/** How far a request's x-amz-date may be from our clock, as AWS allows. */
export const maxClockSkewMs = 15 * 60 * 1000;

const authPattern = /^AWS4-HMAC-SHA256 Credential=([^/\s,]{1,128})\/(\d{8})\/([A-Za-z0-9-]{1,32})\/([a-z0-9-]{1,32})\/aws4_request, ?SignedHeaders=([a-z0-9;_.-]{1,1024}), ?Signature=([0-9a-f]{64})$/;

/** What the Authorization header claims, checked for form only. */
export interface SigV4Claim {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  /** x-amz-date, parsed. */
  signedAt: Date;
}

const failure = (message: string) => new Ec2Error("AuthFailure", 401, message);

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v.join(",") : v;
};

/**
 * The checks that need no body and no secret: the header's form, the scope,
 * and the date within 15 minutes. Done before the body is read.
 */
export function readClaim(headers: IncomingHttpHeaders, now = Date.now()): SigV4Claim {
  const auth = header(headers, "authorization");
  if (!auth) throw new Ec2Error("AuthFailure", 401, "The request must be signed with AWS Signature Version 4 (an Authorization header)");
  const m = authPattern.exec(auth);
  if (!m) throw failure("The Authorization header is not a valid AWS4-HMAC-SHA256 signature");
  const [, accessKeyId = "", date = "", region = "", service = "", signed = "", signature = ""] = m;
  if (service !== "ec2") throw failure(`The credential scope names service ${service}; this endpoint is ec2`);
  const signedHeaders = signed.split(";");
  if (!signedHeaders.includes("host")) throw failure("The signature must cover the Host header");
  if (!signedHeaders.includes("x-amz-date")) throw failure("The signature must cover the X-Amz-Date header");
  const sorted = [...signedHeaders].sort();
  if (signedHeaders.some((h, n) => h !== sorted[n] || h === sorted[n - 1])) throw failure("SignedHeaders must be sorted and without repeats");
  const amzDate = header(headers, "x-amz-date") ?? "";
  const signedAt = parseAmzDate(amzDate);
  if (!signedAt) throw failure("X-Amz-Date must be a date such as 20261202T101500Z");
  if (amzDate.slice(0, 8) !== date) throw failure("The credential scope's date is not the date of X-Amz-Date");
  if (Math.abs(now - signedAt.getTime()) > maxClockSkewMs) {
    throw new Ec2Error("RequestExpired", 400, `Request has expired: X-Amz-Date ${amzDate} is more than 15 minutes from the server's time ${new Date(now).toISOString()}`);
  }
  return { accessKeyId, date, region, service, signedHeaders, signature, signedAt };
}

/**
 * Re-signs the request with the key's secret and compares, in constant time:
 * the payload hash from the raw bytes, exactly the client's signed headers.
 */
export async function verifySignature(claim: SigV4Claim, secret: string, req: { method: string; path: string; headers: IncomingHttpHeaders; body: Buffer }): Promise<void> {
  const bodyHash = createHash("sha256").update(req.body).digest("hex");
  const declared = header(req.headers, "x-amz-content-sha256");
  if (declared !== undefined && declared !== bodyHash) throw failure("X-Amz-Content-Sha256 does not match the body");
  const headers: Record<string, string> = {};
  for (const name of claim.signedHeaders) {
    const value = header(req.headers, name);
    if (value === undefined) throw failure(`The signed header ${name} is not in the request`);
    headers[name] = value;
  }
  const [path = "/", query = ""] = req.path.split("?", 2);
  const signer = new SignatureV4({
    credentials: { accessKeyId: claim.accessKeyId, secretAccessKey: secret },
    region: claim.region,
    service: claim.service,
    sha256: Hash.bind(null, "sha256"),
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: "http:",
      hostname: headers.host ?? "",
      path,
      query: Object.fromEntries(new URLSearchParams(query)),
      headers,
      body: req.body,
    },
    { signingDate: claim.signedAt, signingRegion: claim.region, signingService: claim.service, signableHeaders: new Set(claim.signedHeaders) },
  );
  const ours = authPattern.exec(String(signed.headers.authorization ?? ""));
  const expected = Buffer.from(ours?.[6] ?? "", "hex");
  const given = Buffer.from(claim.signature, "hex");
  const sameHeaders = ours?.[5] === claim.signedHeaders.join(";");
  if (!sameHeaders || expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw failure("AWS was not able to validate the provided access credentials: the signature does not match");
  }
}

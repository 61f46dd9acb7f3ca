// Malformed requests derived from the daemon's own OpenAPI document: the
// generator for test/fuzz.test.ts. Deterministic (a seeded generator), so a
// failure can be replayed.

import { seededRandom } from "./helpers.ts";

export interface FuzzRequest {
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  anyOf?: Schema[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
}

interface OpenApiOperation {
  parameters?: { in: string; name: string; schema?: Schema }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

export interface OpenApi {
  paths: Record<string, Record<string, OpenApiOperation>>;
}


/** Values of every wrong kind, for any field. */
const badValues: unknown[] = [
  null,
  true,
  -1,
  0,
  1e308,
  -1e308,
  3.5,
  Number.MAX_SAFE_INTEGER + 2,
  "",
  " ",
  "x".repeat(100_000),
  "\u0000\u0001\u001f",
  "\ud800",
  "e\u0301\u202e\u200b🦀",
  "../../../../etc/passwd",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "<img src=x onerror=alert(1)>",
  "'; DROP TABLE images; --",
  "*".repeat(1000),
  "${jndi:ldap://127.0.0.1/x}",
  [],
  ["a", 1, null],
  Array.from({ length: 10_000 }, () => 1),
  {},
  { __proto__x: 1, constructor: { prototype: { polluted: true } } },
];

/** Path parameters: ids of the wrong kind, traversal, encodings, lengths. */
const badIds = [
  "i-0123456789abcdef0",
  "ami-0123456789abcdef0",
  "vol-0123456789abcdef0",
  "snap-0123456789abcdef0",
  "op-0123456789abcdef0",
  "..%2F..%2Fadmin-token",
  "%2e%2e",
  "..",
  "%00",
  "%ff%fe",
  "%zz",
  encodeURIComponent("ünïcødé-🦀"),
  "x".repeat(99),
  "x".repeat(101),
  "x".repeat(5000),
  "%20",
  "a;b=c",
];

/** A value that satisfies a schema as far as cheaply possible. */
function sample(s: Schema | undefined, depth = 0): unknown {
  if (!s || depth > 4) return null;
  if (s.enum?.length) return s.enum[0];
  if (s.anyOf?.[0]) return sample(s.anyOf[0], depth + 1);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const k of s.required ?? []) out[k] = sample(s.properties?.[k], depth + 1);
      return out;
    }
    case "array":
      return [];
    case "integer":
    case "number":
      return s.minimum ?? 1;
    case "boolean":
      return false;
    case "string":
      if (s.pattern?.startsWith("^i-")) return "i-0123456789abcdef0";
      if (s.pattern?.startsWith("^ami-")) return "ami-0123456789abcdef0";
      if (s.pattern?.startsWith("^vol-")) return "vol-0123456789abcdef0";
      if (s.pattern?.startsWith("^snap-")) return "snap-0123456789abcdef0";
      return "fuzz";
    default:
      return null;
  }
}

const nested = (depth: number) => Buffer.from(`${"[".repeat(depth)}${"]".repeat(depth)}`);
const nestedObject = (depth: number) => Buffer.from(`${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`);

/** At least `min` malformed requests, every route and method of the document covered. */
export function fuzzRequests(doc: OpenApi, token: string, min: number, seed = 7): FuzzRequest[] {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const auth = { authorization: `Bearer ${token}` };
  const json = { ...auth, "content-type": "application/json" };
  const out: FuzzRequest[] = [];
  const add = (r: Omit<FuzzRequest, "headers"> & { headers?: Record<string, string> }) => out.push({ headers: auth, ...r });

  const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));
  for (const { path, method, op } of routes) {
    const fill = (id: string) => path.replace(/\{[^}]+\}/g, id);
    const base = fill(path.includes("keypairs") ? "fuzz-key" : "i-0123456789abcdef0");
    // Path parameters.
    if (path.includes("{")) for (const id of badIds) add({ what: `${method} ${path} id=${id.slice(0, 20)}`, method, path: fill(id), headers: json, body: method === "GET" || method === "DELETE" ? undefined : Buffer.from("{}") });
    // Query parameters: each one wrong, long, repeated; and one unknown.
    for (const p of (op.parameters ?? []).filter((x) => x.in === "query")) {
      for (const v of ["", "x".repeat(10_000), "-1", "1e999", "true", "%00", encodeURIComponent("*a".repeat(400)), "a=b=c"]) {
        add({ what: `${method} ${path} ?${p.name}=${v.slice(0, 20)}`, method, path: `${base}?${p.name}=${v}` });
      }
      add({ what: `${method} ${path} ?${p.name} x60`, method, path: `${base}?${Array.from({ length: 60 }, () => `${p.name}=k%3Dv`).join("&")}` });
    }
    add({ what: `${method} ${path} unknown query`, method, path: `${base}?colour=red` });
    // Wrong methods on every route.
    for (const m of ["PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]) if (m !== method) add({ what: `${m} ${path}`, method: m, path: base });
    // Unauthenticated and wrongly authenticated.
    for (const headers of [{} as Record<string, string>, { authorization: "Bearer wrong" }, { authorization: "Basic YTpi" }, { authorization: `Bearer ${token}x` }, { authorization: "Bearer" }]) {
      add({ what: `${method} ${path} auth ${JSON.stringify(headers).slice(0, 30)}`, method, path: base, headers });
    }

    const schema = op.requestBody?.content?.["application/json"]?.schema;
    if (!schema) continue;
    const valid = sample(schema) as Record<string, unknown>;
    // Each property given each kind of wrong value.
    for (const key of Object.keys(schema.properties ?? {})) {
      for (let n = 0; n < 8; n++) {
        const v = pick(badValues);
        add({ what: `${method} ${path} ${key}=${JSON.stringify(v)?.slice(0, 30)}`, method, path: base, headers: json, body: Buffer.from(JSON.stringify({ ...valid, [key]: v })) });
      }
    }
    for (const key of schema.required ?? []) {
      const { [key]: _dropped, ...rest } = valid;
      add({ what: `${method} ${path} without ${key}`, method, path: base, headers: json, body: Buffer.from(JSON.stringify(rest)) });
    }
    const bodies: [string, Buffer][] = [
      ["unknown field", Buffer.from(JSON.stringify({ ...valid, colour: "red" }))],
      ["array", Buffer.from("[]")],
      ["null", Buffer.from("null")],
      ["string", Buffer.from('"x"')],
      ["number", Buffer.from("42")],
      ["duplicate keys", Buffer.from(`{"name":"a","name":"b","instanceId":"i-0123456789abcdef0","instanceId":"x"}`)],
      ["__proto__", Buffer.from('{"__proto__":{"polluted":true}}')],
      ["constructor.prototype", Buffer.from('{"constructor":{"prototype":{"polluted":true}}}')],
      ["deep array", nested(50_000)],
      ["deep object", nestedObject(20_000)],
      ["truncated", Buffer.from('{"name":"a')],
      ["trailing garbage", Buffer.from("{} x")],
      ["BOM", Buffer.from("\ufeff{}")],
      ["invalid utf-8", Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
      ["empty", Buffer.alloc(0)],
      ["900 KB string", Buffer.from(JSON.stringify({ ...valid, name: "x".repeat(900_000) }))],
      ["2 MB", Buffer.alloc(2 << 20, 0x20)],
    ];
    for (const [what, body] of bodies) add({ what: `${method} ${path} body ${what}`, method, path: base, headers: json, body });
    // Bodies of the wrong content type.
    for (const type of ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "application/octet-stream", "application/json; charset=utf-16", "", "*/*"]) {
      const headers: Record<string, string> = { ...auth };
      if (type) headers["content-type"] = type;
      add({ what: `${method} ${path} content-type ${type || "none"}`, method, path: base, headers, body: Buffer.from(JSON.stringify(valid)) });
    }
  }
  // Routes that do not exist.
  for (const path of ["/", "/v2/images", "/v1", "/v1/", "//v1//images", "/v1/images/../admin-token", "/v1/%2e%2e/admin-token", "/admin-token", "/catalog.db", "/v1/images/ami-0123456789abcdef0/x/y/z", `/v1/${"a/".repeat(500)}`, "/v1/images?%zz"]) {
    for (const method of ["GET", "POST", "DELETE"]) add({ what: `${method} ${path.slice(0, 40)}`, method, path });
  }
  // Disk uploads that are not disks (the import route reads raw bytes).
  const importPath = "/v1/images/import?name=fuzz&osType=linux";
  const octet = { ...auth, "content-type": "application/octet-stream" };
  for (const [what, body] of [
    ["random bytes", Buffer.from(Array.from({ length: 4096 }, () => Math.floor(rnd() * 256)))],
    ["qcow2 magic only", Buffer.from("QFI\xfb\x00\x00\x00\x03", "latin1")],
    ["vmdk descriptor", Buffer.from('# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 2048 FLAT "/etc/shadow" 0\n')],
    ["one byte", Buffer.from("x")],
  ] as [string, Buffer][]) {
    add({ what: `import ${what}`, method: "POST", path: importPath, headers: octet, body });
  }
  for (let n = 0; out.length < min; n++) {
    const { path, method } = pick(routes);
    add({ what: `${method} ${path} random #${n}`, method, path: path.replace(/\{[^}]+\}/g, pick(badIds)), headers: json, body: Buffer.from(JSON.stringify(pick(badValues))) });
  }
  return out;
}

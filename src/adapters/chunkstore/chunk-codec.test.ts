import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { compress } from "zstd-napi";
import { sha256 } from "../../core/manifest.ts";
import { ChunkCorruptError } from "../../core/ports.ts";
import { decodeChunk, encodeChunk } from "./chunk-codec.ts";

const text = Buffer.from("a disk block that compresses well ".repeat(2000));

/** A stored chunk whose header says `plainLength` and whose payload is `payload` under codec `id`. */
function forged(id: number, plainLength: number, payload: Buffer): Buffer {
  const [header] = encodeChunk(Buffer.alloc(1), "none");
  header.writeUInt8(id, 5);
  header.writeUInt32LE(plainLength, 8);
  header.writeUInt32LE(payload.length, 12);
  return Buffer.concat([header, payload]);
}

const corrupt = (reason: RegExp) => (err: unknown) => err instanceof ChunkCorruptError && reason.test(err.reason);

describe("chunk codec", () => {
  it("round-trips every codec and keeps a codec only when it makes the chunk smaller", () => {
    for (const codec of ["none", "deflate", "zstd"] as const) {
      const [header, payload] = encodeChunk(text, codec);
      assert.equal(header.readUInt8(5), { none: 0, deflate: 1, zstd: 2 }[codec]);
      assert.ok(codec === "none" || payload.length < text.length / 10);
      assert.deepEqual(decodeChunk(sha256(text), Buffer.concat([header, payload])), text);
    }
    const random = randomBytes(4096);
    assert.equal(encodeChunk(random, "zstd")[0].readUInt8(5), 0);
  });

  it("refuses a zstd frame that expands past the length its header states, without allocating for it", () => {
    const bomb = compress(Buffer.alloc(64 << 20));
    assert.throws(() => decodeChunk(sha256(Buffer.alloc(4096)), forged(2, 4096, bomb)), corrupt(/cannot decompress/));
    const deflated = encodeChunk(Buffer.alloc(1 << 20, 1), "deflate")[1];
    assert.throws(() => decodeChunk(sha256(Buffer.alloc(4096, 1)), forged(1, 4096, deflated)), corrupt(/cannot decompress/));
  });

  it("refuses a header claiming more than a chunk can hold, and an unknown codec", () => {
    assert.throws(() => decodeChunk(sha256(text), forged(0, 0xffffffff, text)), corrupt(/exceeds/));
    assert.throws(() => decodeChunk(sha256(text), forged(9, text.length, text)), corrupt(/unknown codec 9/));
  });

  it("refuses content that does not match its hash", () => {
    const stored = Buffer.concat(encodeChunk(text, "zstd"));
    assert.throws(() => decodeChunk(sha256(Buffer.from("other")), stored), corrupt(/does not match/));
  });
});

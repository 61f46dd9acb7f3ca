import { deflateRawSync, inflateRawSync } from "node:zlib";
import { sha256 } from "../../core/manifest.ts";
import { ChunkCorruptError } from "../../core/ports.ts";

// A stored chunk: 16-byte header, then the payload.
//   0  "ISMC"   magic
//   4  u8       format version (1)
//   5  u8       codec: 0 = none, 1 = raw deflate
//   6  u16      reserved, 0
//   8  u32 LE   plain length
//  12  u32 LE   payload length
const magic = Buffer.from("ISMC");
const headerSize = 16;

export type Codec = "none" | "deflate";

/** The stored form as [header, payload], to be written with writev: no copy of the payload. */
export function encodeChunk(plain: Buffer, codec: Codec): [Buffer, Buffer] {
  let payload = plain;
  let codecId = 0;
  if (codec === "deflate") {
    const packed = deflateRawSync(plain, { level: 1 });
    if (packed.length < plain.length) {
      payload = packed;
      codecId = 1;
    }
  }
  const header = Buffer.alloc(headerSize);
  magic.copy(header, 0);
  header.writeUInt8(1, 4);
  header.writeUInt8(codecId, 5);
  header.writeUInt32LE(plain.length, 8);
  header.writeUInt32LE(payload.length, 12);
  return [header, payload];
}

/** Decodes and verifies a stored chunk against the hash it is stored under. */
export function decodeChunk(hash: string, stored: Buffer): Buffer {
  if (stored.length < headerSize || !stored.subarray(0, 4).equals(magic)) throw new ChunkCorruptError(hash, "bad header");
  if (stored.readUInt8(4) !== 1) throw new ChunkCorruptError(hash, `unsupported version ${stored.readUInt8(4)}`);
  const codec = stored.readUInt8(5);
  const plainLength = stored.readUInt32LE(8);
  const payload = stored.subarray(headerSize);
  if (payload.length !== stored.readUInt32LE(12)) throw new ChunkCorruptError(hash, "truncated");
  let plain: Buffer;
  try {
    plain = codec === 1 ? inflateRawSync(payload) : payload;
  } catch {
    throw new ChunkCorruptError(hash, "cannot decompress");
  }
  if (plain.length !== plainLength || sha256(plain) !== hash) throw new ChunkCorruptError(hash, "content does not match its hash");
  return plain;
}

import { deflateRawSync, inflateRawSync } from "node:zlib";
import { compress as zstdCompress } from "zstd-napi";
import binding from "zstd-napi/binding.js";
import { sha256 } from "../../core/manifest.ts";
import { ChunkCorruptError } from "../../core/ports.ts";
import type { Codec } from "./codecs.ts";

// A stored chunk: 16-byte header, then the payload.
//   0  "ISMC"   magic
//   4  u8       format version (1)
//   5  u8       codec: 0 = none, 1 = raw deflate, 2 = zstd
//   6  u16      reserved, 0
//   8  u32 LE   plain length
//  12  u32 LE   payload length
const magic = Buffer.from("ISMC");
const headerSize = 16;

export type { Codec } from "./codecs.ts";

/** No chunk is larger (the manifest's chunk size is 256 KiB): a header claiming more is corrupt, not an allocation. */
const maxPlainLength = 16 * 1024 * 1024;
/** One decompression context per thread (each worker loads this module anew). */
const zstdContext = new binding.DCtx();

/** zstd's own default level: restic's ratio on disk images at ~250 MB/s per core. */
const zstdLevel = 3;

function pack(plain: Buffer, codec: Codec): { payload: Buffer; codecId: number } {
  if (codec === "deflate") return { payload: deflateRawSync(plain, { level: 1 }), codecId: 1 };
  if (codec === "zstd") return { payload: zstdCompress(plain, { compressionLevel: zstdLevel }), codecId: 2 };
  return { payload: plain, codecId: 0 };
}

/** The stored form as [header, payload], to be written with writev. A codec is kept only when it makes the chunk smaller. */
export function encodeChunk(plain: Buffer, codec: Codec): [Buffer, Buffer] {
  let { payload, codecId } = pack(plain, codec);
  if (payload.length >= plain.length) {
    payload = plain;
    codecId = 0;
  }
  const header = Buffer.alloc(headerSize);
  magic.copy(header, 0);
  header.writeUInt8(1, 4);
  header.writeUInt8(codecId, 5);
  header.writeUInt32LE(plain.length, 8);
  header.writeUInt32LE(payload.length, 12);
  return [header, payload];
}

function unpack(codecId: number, payload: Buffer, plainLength: number): Buffer {
  if (codecId === 0) return payload;
  if (codecId === 1) return inflateRawSync(payload, { maxOutputLength: plainLength });
  if (codecId === 2) {
    // Into a buffer of the length the header states: a frame that would expand past it is an
    // error, never a larger allocation (zstd-napi's decompress() sizes its output by the frame).
    const plain = Buffer.allocUnsafe(plainLength);
    return plain.subarray(0, zstdContext.decompress(plain, payload));
  }
  throw new Error(`unknown codec ${codecId}`);
}

/** Decodes and verifies a stored chunk against the hash it is stored under. */
export function decodeChunk(hash: string, stored: Buffer): Buffer {
  if (stored.length < headerSize || !stored.subarray(0, 4).equals(magic)) throw new ChunkCorruptError(hash, "bad header");
  if (stored.readUInt8(4) !== 1) throw new ChunkCorruptError(hash, `unsupported version ${stored.readUInt8(4)}`);
  const codecId = stored.readUInt8(5);
  const plainLength = stored.readUInt32LE(8);
  if (plainLength > maxPlainLength) throw new ChunkCorruptError(hash, `plain length ${plainLength} exceeds ${maxPlainLength}`);
  const payload = stored.subarray(headerSize);
  if (payload.length !== stored.readUInt32LE(12)) throw new ChunkCorruptError(hash, "truncated");
  let plain: Buffer;
  try {
    plain = unpack(codecId, payload, plainLength);
  } catch {
    throw new ChunkCorruptError(hash, codecId > 2 ? `unknown codec ${codecId}` : "cannot decompress");
  }
  if (plain.length !== plainLength || sha256(plain) !== hash) throw new ChunkCorruptError(hash, "content does not match its hash");
  return plain;
}

import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { ChunkCorruptError } from "../../core/ports.ts";
import { decodeChunk, encodeChunk, type Codec } from "./chunk-codec.ts";
import type { CodecAnswer, CodecTask } from "./codec-worker.ts";

/** Encodes chunks for storage and decodes (and verifies) them on reading. */
export interface ChunkCoder {
  /** The stored form: header and payload. */
  encode(plain: Buffer): Promise<Buffer[]>;
  /** The plain content, verified against `hash`; throws ChunkCorruptError. */
  decode(hash: string, stored: Buffer): Promise<Buffer>;
}

/** On the calling thread: for tests and tools; the daemon uses pooledCoder, whatever the codec. */
export function inlineCoder(codec: Codec): ChunkCoder {
  return {
    encode: async (plain) => encodeChunk(plain, codec),
    decode: async (hash, stored) => decodeChunk(hash, stored),
  };
}

// The worker is this directory's codec-worker: .ts when running from the sources (tsx), .js
// from the build. Workers inherit the parent's flags; one started through tsx's register API
// (bin/imagesmith.js's fallback) has no `--import tsx` to inherit, so it is added, by its
// resolved URL: a bare `tsx` would be looked up from the working directory, which may be anywhere.
const workerFile = new URL(`./codec-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url);
const workerArgv = workerFile.pathname.endsWith(".ts") && !process.execArgv.some((a) => a.includes("tsx")) ? [...process.execArgv, "--import", import.meta.resolve("tsx")] : process.execArgv;

/**
 * In a pool of worker threads (piscina), one per core: zstd at its default level runs at about
 * 250 MB/s per core, which on the request thread would cap a capture and stall the API. Idle
 * workers exit after 30 s and never keep the process alive.
 */
export function pooledCoder(codec: Codec, threads = availableParallelism()): ChunkCoder {
  const pool = new Piscina<CodecTask, CodecAnswer>({ filename: workerFile.href, minThreads: 0, maxThreads: threads, idleTimeout: 30_000, execArgv: workerArgv });
  // The worker gets a copy it owns, moved to it: the caller keeps its buffer, and no memory is shared across threads.
  const run = async (op: CodecTask["op"], hash: string, input: Buffer): Promise<CodecAnswer> => {
    const data = new Uint8Array(input);
    return pool.run({ op, codec, hash, data }, { transferList: [data.buffer] });
  };
  const asBuffer = (a: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  return {
    async encode(plain) {
      const answer = await run("encode", "", plain);
      if (typeof answer === "string") throw new Error(`codec worker: ${answer}`);
      return [asBuffer(answer)];
    },
    async decode(hash, stored) {
      const answer = await run("decode", hash, stored);
      if (typeof answer === "string") throw new ChunkCorruptError(hash, answer);
      return asBuffer(answer);
    },
  };
}

// Runs in a worker thread (codec-pool.ts): compression, decompression and the hash check of
// chunks, off the thread that serves requests.
import { move } from "piscina";
import { ChunkCorruptError } from "../../core/ports.ts";
import { decodeChunk, encodeChunk, type Codec } from "./chunk-codec.ts";

export interface CodecTask {
  op: "encode" | "decode";
  codec: Codec;
  /** The chunk's hash (decode: what its content must hash to). */
  hash: string;
  data: Uint8Array;
}

/** encode: the stored form, header and payload in one buffer. decode: the plain content, or (a string) why it is corrupt. */
export type CodecAnswer = Uint8Array | string;

/** A buffer of its own, moved (not copied) back: never a slice of Node's shared small-buffer pool. */
function moved(parts: readonly Buffer[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return move(out) as Uint8Array;
}

export default function run(task: CodecTask): CodecAnswer {
  const input = Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength);
  if (task.op === "encode") return moved(encodeChunk(input, task.codec));
  try {
    return moved([decodeChunk(task.hash, input)]);
  } catch (err) {
    if (err instanceof ChunkCorruptError) return err.reason;
    throw err;
  }
}

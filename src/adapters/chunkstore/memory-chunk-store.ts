import { ChunkMissingError, type ChunkStore } from "../../core/ports.ts";
import { decodeChunk, encodeChunk, type Codec } from "./chunk-codec.ts";

/** Chunks in a Map: for tests of the services, and the reference for the contract suite. */
export class MemoryChunkStore implements ChunkStore {
  readonly chunks = new Map<string, Buffer>();

  constructor(private readonly codec: Codec = "none") {}

  async has(hash: string): Promise<boolean> {
    return this.chunks.has(hash);
  }

  async put(hash: string, data: Buffer): Promise<number> {
    if (this.chunks.has(hash)) return 0;
    const stored = Buffer.concat(encodeChunk(data, this.codec));
    this.chunks.set(hash, stored);
    return stored.length;
  }

  async get(hash: string): Promise<Buffer> {
    const stored = this.chunks.get(hash);
    if (!stored) throw new ChunkMissingError(hash);
    return decodeChunk(hash, stored);
  }

  async delete(hash: string): Promise<void> {
    this.chunks.delete(hash);
  }

  async *list(): AsyncIterable<string> {
    for (const h of [...this.chunks.keys()].sort()) yield h;
  }

  async flush(): Promise<void> {}

  async removePartial(): Promise<number> {
    return 0;
  }

  async usage(): Promise<number> {
    let total = 0;
    for (const b of this.chunks.values()) total += b.length;
    return total;
  }
}

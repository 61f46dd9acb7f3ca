import { open, truncate } from "node:fs/promises";
import { chunkCount, isZero, sha256, type Manifest } from "../core/manifest.ts";
import { eachLimit } from "../core/each-limit.ts";
import type { ChunkStore } from "../core/ports.ts";

export interface Range {
  start: number;
  length: number;
  /** Known to read as zeros (a zero cluster): nothing to read. */
  zero?: boolean;
}

export interface CaptureResult {
  chunks: (string | null)[];
  bytesRead: number;
  bytesStored: number;
}

/** The chunk indexes a set of byte ranges touches, with the parts of each chunk they cover. */
export function touchedChunks(ranges: readonly Range[], chunkSize: number): Map<number, Range[]> {
  const touched = new Map<number, Range[]>();
  for (const r of ranges) {
    let pos = r.start;
    const end = r.start + r.length;
    while (pos < end) {
      const index = Math.floor(pos / chunkSize);
      const chunkEnd = (index + 1) * chunkSize;
      const stop = Math.min(end, chunkEnd);
      const parts = touched.get(index) ?? [];
      parts.push({ start: pos - index * chunkSize, length: stop - pos, ...(r.zero ? { zero: true } : {}) });
      touched.set(index, parts);
      pos = stop;
    }
  }
  return touched;
}

/**
 * Turns the changed ranges of a raw file into chunks: only those ranges are
 * read. A chunk they cover only in part is the parent's chunk with them laid
 * over it (with no parent, the rest of the chunk is a hole: zeros).
 */
export async function captureChunks(options: {
  raw: string;
  volumeSize: number;
  chunkSize: number;
  changed: readonly Range[];
  parent: Manifest | null;
  store: ChunkStore;
  onProgress: (done: number, total: number) => void;
}): Promise<CaptureResult> {
  const { chunkSize, volumeSize, store, parent } = options;
  const count = chunkCount(volumeSize, chunkSize);
  const chunks: (string | null)[] = Array.from({ length: count }, (_, i) => parent?.chunks[i] ?? null);
  const touched = [...touchedChunks(options.changed, chunkSize)].filter(([i]) => i < count);
  let bytesRead = 0;
  let bytesStored = 0;
  let done = 0;
  const fh = await open(options.raw, "r");
  try {
    await eachLimit(touched, 16, async ([index, parts]) => {
      const offset = index * chunkSize;
      const length = Math.min(chunkSize, volumeSize - offset);
      const covered = parts.reduce((n, p) => n + p.length, 0) >= length;
      // Start from the parent's chunk where the changes cover only part of it, else from zeros.
      const base = parent && !covered ? parent.chunks[index] : null;
      const buf = base ? Buffer.from(await store.get(base)) : Buffer.alloc(length);
      for (const p of parts) {
        if (p.zero) buf.fill(0, p.start, p.start + p.length);
        else {
          await fh.read(buf, p.start, p.length, offset + p.start);
          bytesRead += p.length;
        }
      }
      if (isZero(buf)) chunks[index] = null;
      else {
        const hash = sha256(buf);
        chunks[index] = hash;
        const written = await store.put(hash, buf);
        bytesStored += written;
      }
      options.onProgress(++done, touched.length);
    });
  } finally {
    await fh.close();
  }
  return { chunks, bytesRead, bytesStored };
}

/** Writes a manifest's content to a sparse raw file; zero chunks stay holes. */
export async function restoreChunks(options: {
  manifest: Manifest;
  store: ChunkStore;
  out: string;
  onProgress: (done: number, total: number) => void;
  /** Names a corrupt or missing chunk by snapshot and offset. */
  describe: (index: number, err: Error) => Error;
}): Promise<void> {
  const { manifest, store } = options;
  const fh = await open(options.out, "w", 0o600);
  try {
    const present = manifest.chunks.map((h, i) => [i, h] as const).filter((x): x is readonly [number, string] => x[1] !== null);
    let done = 0;
    await eachLimit(present, 8, async ([index, hash]) => {
      const data = await store.get(hash).catch((err: Error) => {
        throw options.describe(index, err);
      });
      await fh.write(data, 0, data.length, index * manifest.chunkSize);
      options.onProgress(++done, present.length);
    });
  } finally {
    await fh.close();
  }
  await truncate(options.out, manifest.volumeSize);
}

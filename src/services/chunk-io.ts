import { open, truncate, type FileHandle } from "node:fs/promises";
import { chunkCount, chunkMap, extentsFromChunks, isZero, presentChunks, sha256, type ChunkExtent, type Manifest } from "../core/manifest.ts";
import { eachLimit } from "../core/each-limit.ts";
import type { ChunkStore } from "../core/ports.ts";

export interface Range {
  start: number;
  length: number;
  /** Known to read as zeros (a zero cluster): nothing to read. */
  zero?: boolean;
}

export interface CaptureResult {
  extents: ChunkExtent[];
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
 * Splits changed ranges into the chunks to rebuild (data, and the ends of
 * zero ranges) and the block intervals [from, to) that zero ranges cover
 * whole: those are cleared without visiting each block, so a zero range
 * costs the same for 1 GiB and 16 TiB.
 */
export function planChunks(ranges: readonly Range[], chunkSize: number, volumeSize: number): { touched: Map<number, Range[]>; cleared: [number, number][] } {
  const parts: Range[] = [];
  const cleared: [number, number][] = [];
  for (const r of ranges) {
    if (!r.zero) {
      parts.push(r);
      continue;
    }
    const end = Math.min(r.start + r.length, volumeSize);
    const from = Math.ceil(r.start / chunkSize);
    // The disk's last block may be short: a range reaching the disk's end covers it whole.
    const to = end >= volumeSize ? chunkCount(volumeSize, chunkSize) : Math.floor(end / chunkSize);
    if (to <= from) {
      parts.push(r);
      continue;
    }
    if (r.start < from * chunkSize) parts.push({ start: r.start, length: from * chunkSize - r.start, zero: true });
    if (end > to * chunkSize) parts.push({ start: to * chunkSize, length: end - to * chunkSize, zero: true });
    cleared.push([from, to]);
  }
  cleared.sort((a, b) => a[0] - b[0]);
  return { touched: touchedChunks(parts, chunkSize), cleared };
}

/** Is block i inside one of the sorted intervals? */
function inIntervals(intervals: readonly [number, number][], i: number): boolean {
  let lo = 0;
  let hi = intervals.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [from, to] = intervals[mid] as [number, number];
    if (i < from) hi = mid - 1;
    else if (i >= to) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * Turns the changed ranges of a raw file into chunks: only those ranges are
 * read. A chunk they cover only in part is the parent's chunk with them laid
 * over it (with no parent, the rest of the chunk is a hole: zeros). Memory
 * follows the chunks present and changed, never the disk size; with no data
 * range, `raw` is not opened (it may be null).
 */
export async function captureChunks(options: {
  raw: string | null;
  volumeSize: number;
  chunkSize: number;
  changed: readonly Range[];
  parent: Manifest | null;
  store: ChunkStore;
  onProgress: (done: number, total: number) => void;
}): Promise<CaptureResult> {
  const { chunkSize, volumeSize, store, parent } = options;
  const count = chunkCount(volumeSize, chunkSize);
  const chunks = parent ? chunkMap(parent) : new Map<number, string>();
  const plan = planChunks(options.changed, chunkSize, volumeSize);
  if (plan.cleared.length > 0) for (const i of [...chunks.keys()]) if (inIntervals(plan.cleared, i)) chunks.delete(i);
  const touched = [...plan.touched].filter(([i]) => i < count);
  let bytesRead = 0;
  let bytesStored = 0;
  let done = 0;
  const needsRead = touched.some(([, parts]) => parts.some((p) => !p.zero));
  if (needsRead && !options.raw) throw new Error("captureChunks: data ranges to read but no raw file");
  const fh: FileHandle | undefined = needsRead ? await open(options.raw as string, "r") : undefined;
  try {
    await eachLimit(touched, 16, async ([index, parts]) => {
      const offset = index * chunkSize;
      const length = Math.min(chunkSize, volumeSize - offset);
      const covered = parts.reduce((n, p) => n + p.length, 0) >= length;
      // Start from the parent's chunk where the changes cover only part of it, else from zeros.
      const base = parent && !covered ? chunks.get(index) : undefined;
      const buf = base ? Buffer.from(await store.get(base)) : Buffer.alloc(length);
      for (const p of parts) {
        if (p.zero) buf.fill(0, p.start, p.start + p.length);
        else {
          await fh?.read(buf, p.start, p.length, offset + p.start);
          bytesRead += p.length;
        }
      }
      if (isZero(buf)) chunks.delete(index);
      else {
        const hash = sha256(buf);
        chunks.set(index, hash);
        // Awaited first: `bytesStored += await …` would read the total before the await and lose concurrent updates.
        const written = await store.put(hash, buf);
        bytesStored += written;
      }
      options.onProgress(++done, touched.length);
    });
  } finally {
    await fh?.close();
  }
  return { extents: extentsFromChunks(chunks), bytesRead, bytesStored };
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
    const present = [...presentChunks(manifest)];
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

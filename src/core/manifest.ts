import { createHash } from "node:crypto";

/** Fixed-size blocks of the virtual disk; each non-zero block is one chunk. */
export const chunkSize = 256 * 1024;

/** A run of consecutive non-zero blocks: block `start + n` is chunk `hashes[n]`. */
export interface ChunkExtent {
  start: number;
  hashes: string[];
}

/**
 * A snapshot's content: the extents of non-zero blocks, sorted by start,
 * neither overlapping nor touching. A block no extent covers reads as zeros.
 */
export interface Manifest {
  snapshotId: string;
  parentId: string | null;
  volumeSize: number;
  chunkSize: number;
  extents: ChunkExtent[];
}

const magic = "IMAGESMITH-MANIFEST";
const version = 2;
const hashPattern = /^[0-9a-f]{64}$/;

/** `IMAGESMITH-MANIFEST 2 <sha256 of body>\n<JSON body>`: see docs/storage-format.md. */
export function encodeManifest(m: Manifest): Buffer {
  const body = JSON.stringify({ snapshotId: m.snapshotId, parentId: m.parentId, volumeSize: m.volumeSize, chunkSize: m.chunkSize, extents: m.extents });
  const sum = createHash("sha256").update(body).digest("hex");
  return Buffer.from(`${magic} ${version} ${sum}\n${body}`);
}

/** Reads a version 2 manifest, or a version 1 one (a dense array of hashes), into extents. */
export function decodeManifest(data: Buffer, name: string): Manifest {
  const text = data.toString("utf8");
  const nl = text.indexOf("\n");
  const [m, v, sum] = text.slice(0, nl).split(" ");
  if (m !== magic) throw new Error(`manifest ${name}: bad magic`);
  if (v !== "1" && v !== "2") throw new Error(`manifest ${name}: unsupported version ${v}`);
  const body = text.slice(nl + 1);
  if (createHash("sha256").update(body).digest("hex") !== sum) throw new Error(`manifest ${name}: checksum mismatch`);
  const parsed = JSON.parse(body) as Omit<Manifest, "extents"> & { extents?: ChunkExtent[]; chunks?: (string | null)[] };
  const extents = v === "1" ? extentsFromDense(parsed.chunks ?? []) : (parsed.extents ?? []);
  const manifest: Manifest = { snapshotId: parsed.snapshotId, parentId: parsed.parentId, volumeSize: parsed.volumeSize, chunkSize: parsed.chunkSize, extents };
  checkExtents(manifest, name);
  return manifest;
}

/** A manifest read back is an edge: extents in order, inside the disk, hashes well-formed. */
function checkExtents(m: Manifest, name: string): void {
  const count = chunkCount(m.volumeSize, m.chunkSize);
  let end = -1;
  for (const e of m.extents) {
    if (!Number.isSafeInteger(e.start) || e.start <= end || !Array.isArray(e.hashes) || e.hashes.length === 0) {
      throw new Error(`manifest ${name}: extents out of order or empty at block ${e.start}`);
    }
    end = e.start + e.hashes.length;
    if (end > count) throw new Error(`manifest ${name}: an extent ends at block ${end}, past the disk's ${count} blocks`);
    for (const h of e.hashes) if (!hashPattern.test(h)) throw new Error(`manifest ${name}: not a chunk hash at block ${e.start}`);
  }
}

/** Version 1's dense array (null for a zero block) as extents. */
export function extentsFromDense(chunks: readonly (string | null)[]): ChunkExtent[] {
  const extents: ChunkExtent[] = [];
  let run: ChunkExtent | undefined;
  chunks.forEach((h, i) => {
    if (h === null) run = undefined;
    else if (run) run.hashes.push(h);
    else extents.push((run = { start: i, hashes: [h] }));
  });
  return extents;
}

/** The present chunks (block index to hash) as extents; costs what is present, not the disk size. */
export function extentsFromChunks(chunks: ReadonlyMap<number, string>): ChunkExtent[] {
  const extents: ChunkExtent[] = [];
  let run: ChunkExtent | undefined;
  for (const i of [...chunks.keys()].sort((a, b) => a - b)) {
    const h = chunks.get(i) as string;
    if (run && run.start + run.hashes.length === i) run.hashes.push(h);
    else extents.push((run = { start: i, hashes: [h] }));
  }
  return extents;
}

/** Every present block of a manifest, in order: [block index, hash]. */
export function* presentChunks(m: Pick<Manifest, "extents">): Generator<[number, string]> {
  for (const e of m.extents) for (let n = 0; n < e.hashes.length; n++) yield [e.start + n, e.hashes[n] as string];
}

/** The present blocks as a Map, for changing some of them. */
export function chunkMap(m: Pick<Manifest, "extents">): Map<number, string> {
  return new Map(presentChunks(m));
}

/** How many blocks hold data. */
export function presentCount(m: Pick<Manifest, "extents">): number {
  return m.extents.reduce((n, e) => n + e.hashes.length, 0);
}

export function chunkCount(volumeSize: number, size = chunkSize): number {
  return Math.ceil(volumeSize / size);
}

export const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

let zeros = Buffer.alloc(chunkSize);

/** All zeros? A memcmp against a zero buffer: far faster than reading words in JS. */
export function isZero(buf: Buffer): boolean {
  if (buf.length > zeros.length) zeros = Buffer.alloc(buf.length);
  return buf.equals(zeros.subarray(0, buf.length));
}

import { createHash } from "node:crypto";

/** Fixed-size blocks of the virtual disk; each non-zero block is one chunk. */
export const chunkSize = 256 * 1024;

/** A snapshot's content: one SHA-256 per block of the disk, null for a zero block. */
export interface Manifest {
  snapshotId: string;
  parentId: string | null;
  volumeSize: number;
  chunkSize: number;
  chunks: (string | null)[];
}

const magic = "IMAGESMITH-MANIFEST";
const version = 1;

/** `IMAGESMITH-MANIFEST 1 <sha256 of body>\n<JSON body>`: see docs/storage-format.md. */
export function encodeManifest(m: Manifest): Buffer {
  const body = JSON.stringify(m);
  const sum = createHash("sha256").update(body).digest("hex");
  return Buffer.from(`${magic} ${version} ${sum}\n${body}`);
}

export function decodeManifest(data: Buffer, name: string): Manifest {
  const text = data.toString("utf8");
  const nl = text.indexOf("\n");
  const [m, v, sum] = text.slice(0, nl).split(" ");
  if (m !== magic) throw new Error(`manifest ${name}: bad magic`);
  if (Number(v) !== version) throw new Error(`manifest ${name}: unsupported version ${v}`);
  const body = text.slice(nl + 1);
  if (createHash("sha256").update(body).digest("hex") !== sum) throw new Error(`manifest ${name}: checksum mismatch`);
  return JSON.parse(body) as Manifest;
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

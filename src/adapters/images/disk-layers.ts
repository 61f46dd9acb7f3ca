import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { convertDisk, DiskToolError, imageSpec } from "./qemu-img.ts";

const run = promisify(execFile);

export interface Extent {
  start: number;
  length: number;
  depth: number;
  zero: boolean;
  data: boolean;
}

/** `qemu-img map`: which ranges of the disk hold what, and in which layer (depth 0 = top). */
export async function mapExtents(file: string, format: string): Promise<Extent[]> {
  try {
    const { stdout } = await run("qemu-img", ["map", "-U", "--output=json", imageSpec(file, format)], { maxBuffer: 256 << 20, timeout: 10 * 60_000, killSignal: "SIGKILL" });
    return JSON.parse(stdout) as Extent[];
  } catch (err) {
    throw new DiskToolError("Reading the disk's allocation map failed (qemu-img map)", ((err as { stderr?: string }).stderr ?? String(err)).trim());
  }
}

/** A qcow2 file's own layer, without its backing chain (JSON filename syntax). */
export function topLayerSpec(qcow2: string): string {
  return `json:${JSON.stringify({ driver: "qcow2", file: { driver: "file", filename: qcow2 }, backing: null })}`;
}

/**
 * Writes a disk's content to a sparse raw file: the whole disk, or only the
 * top layer of a qcow2 overlay (everything below reads as zeros and is not
 * written, so this costs what the overlay holds, not the disk size).
 */
export async function extractRaw(options: { file: string; format: string; topOnly: boolean; out: string }, onProgress: (pct: number) => void): Promise<void> {
  const from = options.topOnly ? topLayerSpec(options.file) : imageSpec(options.file, options.format);
  await convertDisk(
    { from, fromFormat: "", to: options.out, toFormat: "raw", extra: ["-U"] },
    onProgress,
  );
}

import { statfs } from "node:fs/promises";
import { insufficientStorage } from "../core/errors.ts";

/** Room left on top of what a job needs, so that the host never fills up to the last block. */
const headroom = 256 * 1024 * 1024;

const mib = (n: number) => `${Math.ceil(n / 1024 / 1024)} MiB`;

/**
 * Refuses work that would write more than the filesystem holding `dir` has
 * free (507 INSUFFICIENT_STORAGE), before anything is written. `what` names
 * the job, never the path.
 */
export async function ensureFreeSpace(dir: string, bytes: number, what: string): Promise<void> {
  const s = await statfs(dir);
  const free = s.bavail * s.bsize;
  if (bytes + headroom > free) {
    throw insufficientStorage("INSUFFICIENT_STORAGE", `${what} needs ${mib(bytes)} of disk space on the host, but only ${mib(Math.max(0, free - headroom))} is free`);
  }
}

import { chmod, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

/** Takes group and other bits off everything below dir (links are left alone). */
async function tighten(dir: string): Promise<number> {
  let fixed = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    const { mode } = await lstat(path);
    if (mode & 0o077) {
      await chmod(path, mode & 0o700);
      fixed++;
    }
    if (entry.isDirectory()) fixed += await tighten(path);
  }
  return fixed;
}

/**
 * The data dir holds the catalog (user-data, password ciphertext), disks and
 * tokens: it is 0700 and what is inside 0600/0700. A data dir made by an older
 * version, or by hand, with looser modes is tightened once, at start; returns
 * how many entries were fixed.
 */
export async function makePrivate(dir: string): Promise<number> {
  const { mode } = await lstat(dir);
  if ((mode & 0o777) === 0o700) return 0;
  await chmod(dir, 0o700);
  return 1 + (await tighten(dir));
}

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Command } from "commander";

const run = promisify(execFile);
const guestDir = fileURLToPath(new URL("../../../guest/", import.meta.url));

/** A hash of the build script, the guest's files and the host kernel: the cache key. */
async function guestHash(): Promise<string> {
  const h = createHash("sha256");
  h.update(await readFile(join(guestDir, "build.sh")));
  for (const f of (await readdir(join(guestDir, "files"))).sort()) h.update(f).update(await readFile(join(guestDir, "files", f)));
  h.update((await readdir("/boot")).filter((f) => f.startsWith("vmlinuz-")).sort().join(","));
  return h.digest("hex").slice(0, 16);
}

/** Builds the tiny test guest once per content hash and copies it to `out`. */
export async function buildGuest(out: string, cacheDir = process.env.IMAGESMITH_CACHE_DIR ?? join(homedir(), ".cache", "imagesmith")): Promise<string> {
  await mkdir(cacheDir, { recursive: true });
  const cached = join(cacheDir, `tiny-guest-${await guestHash()}.qcow2`);
  const exists = await stat(cached).then(() => true, () => false);
  if (!exists) await run("bash", [join(guestDir, "build.sh"), cached], { maxBuffer: 16 << 20 });
  await copyFile(cached, out);
  return out;
}

export function guestCommand(): Command {
  const cmd = new Command("guest").description("the tiny test guest");
  cmd
    .command("build")
    .description("build the tiny Linux guest (Debian kernel, busybox, dropbear, first-boot agent) as a qcow2 disk")
    .requiredOption("--out <disk>", "where to write the qcow2 disk")
    .action(async (o: { out: string }) => {
      process.stdout.write(`${await buildGuest(o.out)}\n`);
    });
  return cmd;
}

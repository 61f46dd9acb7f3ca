import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Command, Option } from "commander";

const run = promisify(execFile);
const guestDir = fileURLToPath(new URL("../../../guest/", import.meta.url));

/** The guests imagesmith can build, each from a folder of guest/ with a build.sh. */
export const distros = {
  tiny: { dir: "", file: "tiny-guest", hostKernel: true },
  "debian-12": { dir: "debian", file: "debian-12", hostKernel: false },
} as const;
export type Distro = keyof typeof distros;

/** A hash of the recipe (its script and files), and for the tiny guest the host's kernels: the cache key. */
async function recipeHash(distro: Distro): Promise<string> {
  const h = createHash("sha256");
  const dir = join(guestDir, distros[distro].dir);
  h.update(await readFile(join(dir, "build.sh")));
  const filesDir = distro === "tiny" ? join(dir, "files") : dir;
  for (const f of (await readdir(filesDir)).sort()) h.update(f).update(await readFile(join(filesDir, f)));
  if (distros[distro].hostKernel) h.update((await readdir("/boot")).filter((f) => f.startsWith("vmlinuz-")).sort().join(","));
  return h.digest("hex").slice(0, 16);
}

const defaultCacheDir = () => process.env.IMAGESMITH_CACHE_DIR ?? join(homedir(), ".cache", "imagesmith");

/** Builds a guest disk once per recipe hash and copies it to `out`. */
export async function buildGuest(out: string, cacheDir = defaultCacheDir(), distro: Distro = "tiny"): Promise<string> {
  await mkdir(cacheDir, { recursive: true });
  const cached = join(cacheDir, `${distros[distro].file}-${await recipeHash(distro)}.qcow2`);
  const exists = await stat(cached).then(() => true, () => false);
  if (!exists) await run("bash", [join(guestDir, distros[distro].dir, "build.sh"), cached], { maxBuffer: 64 << 20 });
  await copyFile(cached, out);
  return out;
}

export function guestCommand(): Command {
  const cmd = new Command("guest").description("guest disks to import: the tiny test guest, or a real Debian cloud image");
  cmd
    .command("build")
    .description("build a guest disk as qcow2, cached by its recipe: tiny (busybox, dropbear, our first-boot agent) or debian-12 (Debian's packages and cloud-init, like Debian's genericcloud image)")
    .requiredOption("--out <disk>", "where to write the qcow2 disk")
    .addOption(new Option("--distro <name>", "which guest").choices(Object.keys(distros)).default("tiny"))
    .action(async (o: { out: string; distro: Distro }) => {
      process.stdout.write(`${await buildGuest(o.out, defaultCacheDir(), o.distro)}\n`);
    });
  return cmd;
}

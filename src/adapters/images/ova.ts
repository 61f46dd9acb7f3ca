import { execFile } from "node:child_process";
import { open, rm } from "node:fs/promises";
import { promisify } from "node:util";
import { badRequest } from "../../core/errors.ts";

const run = promisify(execFile);

/** A tar archive has "ustar" at offset 257. */
async function isTar(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(5);
    await fh.read(buf, 0, 5, 257);
    return buf.toString("latin1") === "ustar";
  } finally {
    await fh.close();
  }
}

/**
 * An OVA is a tar of an .ovf descriptor and its disks: extracts the first
 * disk beside the upload and returns its path; undefined when not an OVA.
 */
export async function extractOva(file: string): Promise<string | undefined> {
  if (!(await isTar(file))) return undefined;
  const { stdout } = await run("tar", ["-tf", file]).catch(() => ({ stdout: "" }));
  const members = stdout.split("\n").filter(Boolean);
  if (!members.some((m) => m.toLowerCase().endsWith(".ovf"))) {
    throw badRequest("INVALID_DISK_IMAGE", "The tar archive is not an OVA: it has no .ovf descriptor");
  }
  const disk = members.find((m) => /\.(vmdk|vhd|vhdx|qcow2|img|raw)$/i.test(m) && !m.includes("/") && !m.startsWith("."));
  if (!disk) throw badRequest("INVALID_DISK_IMAGE", "The OVA holds no disk file");
  const out = `${file}.disk`;
  try {
    await run("sh", ["-c", 'tar -xOf "$1" -- "$2" > "$3"', "sh", file, disk, out]);
  } catch (err) {
    await rm(out, { force: true });
    throw badRequest("INVALID_DISK_IMAGE", `The OVA cannot be read: ${(err as Error).message}`);
  }
  return out;
}

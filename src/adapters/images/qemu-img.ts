import { execFile, spawn } from "node:child_process";
import { open } from "node:fs/promises";
import { promisify } from "node:util";
import { badRequest } from "../../core/errors.ts";
import type { DiskInfo } from "../../core/ports.ts";

const run = promisify(execFile);

export const importableFormats = ["raw", "qcow2", "vpc", "vhdx", "vmdk", "vdi"] as const;

function firstLine(err: unknown): string {
  const stderr = (err as { stderr?: string }).stderr ?? (err as Error).message;
  return stderr.trim().split("\n")[0]?.replace(/^qemu-img: /, "") ?? "unknown error";
}

/** Reads a disk file's format and size; a file qemu-img cannot read is a 400. */
export async function inspectDisk(file: string, forceFormat?: string): Promise<DiskInfo> {
  let info: { format?: unknown; "virtual-size"?: unknown };
  try {
    const { stdout } = await run("qemu-img", ["info", "--output", "json", ...(forceFormat ? ["-f", forceFormat] : []), file]);
    info = JSON.parse(stdout) as typeof info;
  } catch (err) {
    throw badRequest("INVALID_DISK_IMAGE", `The disk file cannot be read: ${firstLine(err)}`);
  }
  const format = String(info.format);
  // A fixed VHD is raw data with a 512-byte footer at the end, which qemu-img's probe does not look at.
  if (format === "raw" && (await hasVhdFooter(file))) {
    return inspectDisk(file, "vpc");
  }
  if (!(importableFormats as readonly string[]).includes(format)) {
    throw badRequest("UNSUPPORTED_DISK_FORMAT", `The disk format ${format} is not supported`);
  }
  if (format === "raw") await checkRawDisk(file, Number(info["virtual-size"]));
  else {
    try {
      await run("qemu-img", ["check", "-q", "-f", format, file]);
    } catch (err) {
      const code = (err as { code?: number }).code;
      // qemu-img check exits 3 for leaked clusters only (harmless, the data is intact)
      // and 63 when the format has no checks (VHD): qemu-img info has read it already.
      if (code !== 3 && code !== 63) throw badRequest("INVALID_DISK_IMAGE", `The ${format} disk file is corrupt: ${firstLine(err)}`);
    }
  }
  return { format, virtualSize: Number(info["virtual-size"]) };
}

async function hasVhdFooter(file: string): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const { size } = await fh.stat();
    if (size < 1024) return false;
    const cookie = Buffer.alloc(8);
    await fh.read(cookie, 0, 8, size - 512);
    return cookie.toString("latin1") === "conectix";
  } finally {
    await fh.close();
  }
}

/**
 * qemu-img takes any bytes for a raw disk, so a raw upload must look like a
 * disk: whole 512-byte sectors and a boot signature (MBR, or GPT's protective MBR).
 */
async function checkRawDisk(file: string, size: number): Promise<void> {
  if (size < 512 || size % 512 !== 0) {
    throw badRequest("INVALID_DISK_IMAGE", `The raw disk file is ${size} bytes, not a whole number of 512-byte sectors`);
  }
  const fh = await open(file, "r");
  try {
    const sector = Buffer.alloc(512);
    await fh.read(sector, 0, 512, 0);
    if (sector[510] !== 0x55 || sector[511] !== 0xaa) {
      throw badRequest("INVALID_DISK_IMAGE", "The raw disk file has no boot signature in its first sector: it is not a bootable disk");
    }
  } finally {
    await fh.close();
  }
}

/** qemu-img convert with progress reported as 0..100. */
export function convertDisk(
  options: { from: string; fromFormat: string; to: string; toFormat: string; extra?: string[] },
  onProgress: (pct: number) => void,
): Promise<void> {
  const from = options.fromFormat ? ["-f", options.fromFormat] : [];
  const args = ["convert", "-p", ...from, "-O", options.toFormat, ...(options.extra ?? []), options.from, options.to];
  return new Promise((resolve, reject) => {
    const p = spawn("qemu-img", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    p.stdout.setEncoding("utf8");
    p.stdout.on("data", (chunk: string) => {
      const m = /\((\d+(?:\.\d+)?)\/100%\)[^(]*$/.exec(chunk);
      if (m?.[1]) onProgress(Number(m[1]));
    });
    p.stderr.setEncoding("utf8");
    p.stderr.on("data", (c: string) => (stderr += c));
    p.on("error", reject);
    p.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`qemu-img convert failed: ${stderr.trim() || `exit ${code}`}`)),
    );
  });
}

export async function createEmptyDisk(path: string, size: number): Promise<void> {
  await run("qemu-img", ["create", "-q", "-f", "qcow2", path, String(size)]);
}

export async function createOverlay(base: string, path: string): Promise<void> {
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", path]);
}

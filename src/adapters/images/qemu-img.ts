import { execFile, spawn } from "node:child_process";
import { open } from "node:fs/promises";
import { promisify } from "node:util";
import { badRequest } from "../../core/errors.ts";
import type { DiskInfo } from "../../core/ports.ts";
import { checkSelfContained, type QemuImgInfo } from "./disk-policy.ts";
import { refuseBeforeOpening, sniffDisk } from "./disk-sniff.ts";

const run = promisify(execFile);

export const importableFormats = ["raw", "qcow2", "vpc", "vhdx", "vmdk", "vdi"] as const;
const withBacking = new Set(["qcow2", "vmdk"]);

/**
 * A failure of a disk tool: `message` is safe to show (it names no host path
 * and echoes nothing of the tool), `detail` is the tool's own words, for the log.
 */
export class DiskToolError extends Error {
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message);
    this.name = "DiskToolError";
  }
}

const stderrOf = (err: unknown) => ((err as { stderr?: string }).stderr ?? (err as Error).message ?? String(err)).trim();

/**
 * How every disk is opened: with an explicit format driver over the `file`
 * protocol driver, as a json: pseudo-filename (so no name is ever taken as a
 * protocol or probed for a format). `backing: "none"` opens the file alone
 * (uploads); "chain" lets a qcow2 overlay we made ourselves open the base
 * its header names, in our cache.
 */
export function imageSpec(file: string, format: string, backing: "none" | "chain" = "chain"): string {
  const spec: Record<string, unknown> = { driver: format, file: { driver: "file", filename: file } };
  if (backing === "none" && withBacking.has(format)) spec.backing = null;
  return `json:${JSON.stringify(spec)}`;
}

/** qemu-img with a time limit; a failure is a DiskToolError with a safe message. */
async function qemuImg(args: string[], what: string, timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await run("qemu-img", args, { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 256 << 20 });
    return stdout;
  } catch (err) {
    throw new DiskToolError(what, stderrOf(err));
  }
}

/**
 * Reads an uploaded disk's format and size, and refuses it unless it is plain
 * data (docs/security.md): the format comes from its header bytes, header
 * features that name other files are refused before qemu-img opens it, then
 * `qemu-img info` reads it with that format, the file protocol and no backing
 * chain, and its answer is checked for any reference to another file or
 * protocol; last, a size cap and the format's own consistency check.
 */
export async function inspectDisk(file: string, options: { maxVirtualSize: number }): Promise<DiskInfo> {
  const sniffed = await sniffDisk(file);
  refuseBeforeOpening(sniffed);
  const format = sniffed.format as (typeof importableFormats)[number];
  let info: QemuImgInfo;
  try {
    info = JSON.parse(await qemuImg(["info", "--output=json", imageSpec(file, format, "none")], `The disk file cannot be read as ${format}`, 30_000)) as QemuImgInfo;
  } catch (err) {
    if (err instanceof DiskToolError) throw Object.assign(badRequest("INVALID_DISK_IMAGE", err.message), { detail: err.detail });
    throw err;
  }
  checkSelfContained(info, file);
  const virtualSize = Number(info["virtual-size"]);
  if (!Number.isSafeInteger(virtualSize) || virtualSize <= 0) throw badRequest("INVALID_DISK_IMAGE", "The disk file has no valid virtual size");
  if (virtualSize > options.maxVirtualSize) {
    const gib = (n: number) => `${Math.ceil(n / 1024 ** 3)} GiB`;
    throw badRequest("DISK_TOO_LARGE", `The disk's virtual size is ${gib(virtualSize)}, more than this host's limit of ${gib(options.maxVirtualSize)}`);
  }
  if (format === "raw") await checkRawDisk(file, virtualSize);
  else await checkConsistency(file, format);
  return { format, virtualSize };
}

async function checkConsistency(file: string, format: string): Promise<void> {
  try {
    await run("qemu-img", ["check", "-q", imageSpec(file, format, "none")], { timeout: 10 * 60_000, killSignal: "SIGKILL" });
  } catch (err) {
    const code = (err as { code?: number }).code;
    // qemu-img check exits 3 for leaked clusters only (harmless, the data is intact)
    // and 63 when the format has no checks (VHD): qemu-img info has read it already.
    if (code !== 3 && code !== 63) throw Object.assign(badRequest("INVALID_DISK_IMAGE", `The ${format} disk file is corrupt`), { detail: stderrOf(err) });
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

/** qemu-img convert with progress reported as 0..100; the source is opened with its explicit format. */
export function convertDisk(
  options: { from: string; fromFormat: string; to: string; toFormat: string; extra?: string[] },
  onProgress: (pct: number) => void,
): Promise<void> {
  const from = options.from.startsWith("json:") || !options.fromFormat ? options.from : imageSpec(options.from, options.fromFormat);
  const to = options.toFormat ? ["-O", options.toFormat] : [];
  const args = ["convert", "-p", ...to, ...(options.extra ?? []), from, options.to];
  return new Promise((resolve, reject) => {
    const p = spawn("qemu-img", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    p.stdout.setEncoding("utf8");
    p.stdout.on("data", (chunk: string) => {
      const m = /\((\d+(?:\.\d+)?)\/100%\)[^(]*$/.exec(chunk);
      if (m?.[1]) onProgress(Number(m[1]));
    });
    p.stderr.setEncoding("utf8");
    p.stderr.on("data", (c: string) => (stderr = (stderr + c).slice(-4096)));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve() : reject(new DiskToolError("Converting the disk failed (qemu-img convert)", stderr.trim() || `exit ${code}`))));
  });
}

export async function createEmptyDisk(path: string, size: number): Promise<void> {
  await run("qemu-img", ["create", "-q", "-f", "qcow2", path, String(size)]);
}

export async function createOverlay(base: string, path: string): Promise<void> {
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", path]);
}

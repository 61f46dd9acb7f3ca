import { createReadStream } from "node:fs";
import { open, rm } from "node:fs/promises";
import tar from "tar-stream";
import { badRequest } from "../../core/errors.ts";
import { writeSparse } from "../fs/sparse-write.ts";

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

const diskName = /^[^/\\.][^/\\]*\.(vmdk|vhd|vhdx|qcow2|img|raw)$/i;
const maxMembers = 64;

/**
 * An OVA is a tar of an .ovf descriptor and its disks: streams the first disk
 * member to a sparse file beside the upload and returns its path; undefined
 * when the file is not a tar. The archive is read as data, with tar-stream,
 * and never extracted: only regular files with plain names count, links and
 * devices are refused, and a member is bounded by the largest disk we take.
 * The disk it yields is then checked like any upload.
 */
export async function extractOva(file: string, options: { maxBytes: number }): Promise<string | undefined> {
  if (!(await isTar(file))) return undefined;
  const out = `${file}.disk`;
  const extract = tar.extract();
  let members = 0;
  let ovf = false;
  let disk: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const fail = (message: string) => {
        stream.resume();
        reject(badRequest("INVALID_DISK_IMAGE", message));
        extract.destroy();
      };
      if (++members > maxMembers) return fail(`The OVA holds more than ${maxMembers} files`);
      const name = header.name;
      if (header.type !== "file") {
        if (diskName.test(name) || /\.ovf$/i.test(name)) return fail(`The OVA member ${JSON.stringify(name.slice(0, 64))} is a ${header.type}, not a regular file`);
        stream.resume();
        stream.on("end", next);
        return;
      }
      if (/\.ovf$/i.test(name)) ovf = true;
      if (disk || !diskName.test(name)) {
        stream.resume();
        stream.on("end", next);
        return;
      }
      if ((header.size ?? 0) > options.maxBytes) return fail("The OVA's disk is larger than this host takes");
      disk = name;
      writeSparse(stream as AsyncIterable<Buffer>, out, options.maxBytes).then(() => next(), (err: unknown) => {
        reject(err instanceof Error ? err : new Error(String(err)));
        extract.destroy();
      });
    });
    extract.on("finish", resolve);
    extract.on("error", () => reject(badRequest("INVALID_DISK_IMAGE", "The OVA is not a readable tar archive")));
  });
  try {
    createReadStream(file).on("error", (err) => extract.destroy(err)).pipe(extract);
    await done;
    if (!ovf) throw badRequest("INVALID_DISK_IMAGE", "The tar archive is not an OVA: it has no .ovf descriptor");
    if (!disk) throw badRequest("INVALID_DISK_IMAGE", "The OVA holds no disk file");
    return out;
  } catch (err) {
    await rm(out, { force: true });
    throw err;
  }
}

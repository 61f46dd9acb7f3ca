import { badRequest } from "../../core/errors.ts";

/** The parts of `qemu-img info --output=json` the rule looks at. */
export interface QemuImgInfo {
  format?: unknown;
  "virtual-size"?: unknown;
  filename?: unknown;
  "backing-filename"?: unknown;
  "full-backing-filename"?: unknown;
  "format-specific"?: { type?: unknown; data?: Record<string, unknown> };
}

const unsafe = (feature: string) => badRequest("UNSAFE_DISK_IMAGE", `The disk file ${feature}: uploaded disks must be self-contained data, with no references to other files or protocols`);

/**
 * Uploaded disks are data, never instructions (docs/security.md): refuses,
 * from the image's own metadata as qemu-img reads it with the backing chain
 * not opened, anything that would make qemu-img read something else than
 * the file itself: a backing file (whatever its name or protocol), an
 * external data file, VMDK extents other than the file itself or of FLAT
 * kind, a parent hint. `file` is the path the upload was opened at.
 */
export function checkSelfContained(info: QemuImgInfo, file: string): void {
  if (info["backing-filename"] !== undefined || info["full-backing-filename"] !== undefined) {
    throw unsafe(`names a backing file (${describeName(info["backing-filename"])})`);
  }
  const specific = info["format-specific"];
  const data = specific?.data ?? {};
  if (data["data-file"] !== undefined) throw unsafe("names an external data file");
  if (specific?.type === "vmdk") {
    const createType = String(data["create-type"] ?? "");
    if (createType !== "monolithicSparse" && createType !== "streamOptimized") throw unsafe(`is a ${createType || "unknown"} VMDK`);
    const extents = Array.isArray(data.extents) ? (data.extents as Record<string, unknown>[]) : [];
    if (extents.length !== 1) throw unsafe(`is a VMDK with ${extents.length} extents`);
    for (const e of extents) {
      if (e.format === "FLAT" || e.format === "VMFS" || e.format === "VMFSSPARSE") throw unsafe(`is a VMDK with a ${String(e.format)} extent`);
      if (typeof e.filename === "string" && !sameFile(e.filename, file)) throw unsafe("is a VMDK whose extent is another file");
    }
  }
  if (typeof info.filename === "string" && !sameFile(info.filename, file)) throw unsafe("was opened through a protocol");
}

/** qemu-img reports a json: pseudo-filename for what it opened with one; both name the same file. */
function sameFile(reported: string, file: string): boolean {
  if (reported === file) return true;
  if (!reported.startsWith("json:")) return false;
  try {
    const spec = JSON.parse(reported.slice(5)) as { file?: { driver?: string; filename?: string }; driver?: string; filename?: string };
    const leaf = spec.file ?? spec;
    return leaf.driver === "file" && leaf.filename === file;
  } catch {
    return false;
  }
}

/** A backing name in a message: its protocol if it has one, else only that it is a path; never the path itself. */
function describeName(name: unknown): string {
  const s = String(name ?? "");
  const protocol = /^([a-z][a-z0-9+.-]*):/i.exec(s)?.[1];
  return protocol ? `through the ${protocol}: protocol` : "a file path";
}

import { open } from "node:fs/promises";
import { badRequest } from "../../core/errors.ts";

/** What the first bytes (and a fixed VHD's footer) say a disk file is, before qemu-img sees it. */
export type Sniffed =
  | { format: "qcow2"; externalDataFile: boolean }
  | { format: "vmdk"; zeroCapacity: boolean; parentHint: boolean }
  | { format: "vdi" | "vhdx" | "vpc" | "raw" }
  | { format: "vmdk-descriptor" }
  | { format: "unsupported"; name: string };

const ascii = (b: Buffer, start: number, end: number) => b.subarray(start, end).toString("latin1");

/**
 * Reads the format from the header bytes: qcow2, sparse VMDK, VDI, VHDX,
 * VPC (dynamic, or fixed with its footer), or raw. A text VMDK descriptor is
 * told apart: it only ever names other files (extents), so it is refused.
 * Formats qemu-img knows but we do not take are named, to be refused too.
 */
export function sniffHeader(head: Buffer, footer: Buffer | null): Sniffed {
  if (ascii(head, 0, 4) === "QFI\xfb") {
    // Too short for a header: qemu-img will say it is not a qcow2.
    if (head.length < 72) return { format: "qcow2", externalDataFile: false };
    const version = head.readUInt32BE(4);
    if (version < 2) return { format: "unsupported", name: "qcow (version 1)" };
    // Version 3 headers: incompatible_features at 72, bit 2 is "external data file".
    const incompatible = version >= 3 && head.length >= 80 ? head.readBigUInt64BE(72) : 0n;
    return { format: "qcow2", externalDataFile: (incompatible & 4n) !== 0n };
  }
  if (ascii(head, 0, 4) === "KDMV") {
    // A capacity of 0 makes qemu-img take the embedded descriptor's extents instead of the file;
    // a parentFileNameHint there names a parent disk. Both are refused before qemu-img opens it.
    if (head.length < 44) return { format: "vmdk", zeroCapacity: true, parentHint: false };
    const descAt = Number(head.readBigUInt64LE(28)) * 512;
    const desc = descAt > 0 && descAt < head.length ? ascii(head, descAt, Math.min(head.length, descAt + Number(head.readBigUInt64LE(36)) * 512)) : "";
    return { format: "vmdk", zeroCapacity: head.readBigUInt64LE(12) === 0n, parentHint: /^\s*parentFileNameHint\s*=/m.test(desc) };
  }
  if (ascii(head, 0, 4) === "COWD") return { format: "unsupported", name: "VMDK version 3 (COWD)" };
  if (/^\s*#\s*Disk DescriptorFile/i.test(ascii(head, 0, 64))) return { format: "vmdk-descriptor" };
  if (head.length >= 68 && head.readUInt32LE(64) === 0xbeda107f) return { format: "vdi" };
  if (ascii(head, 0, 8) === "vhdxfile") return { format: "vhdx" };
  if (ascii(head, 0, 8) === "conectix" || (footer && ascii(footer, 0, 8) === "conectix")) return { format: "vpc" };
  const others: [string, string][] = [["QED\x00", "qed"], ["WithoutFreeSpace", "parallels"], ["WithouFreSpacExt", "parallels"], ["Bochs Virtual HD Image", "bochs"], ["#!/bin/sh\n#V2.0 Format", "cloop"]];
  for (const [magic, name] of others) if (ascii(head, 0, magic.length) === magic) return { format: "unsupported", name };
  return { format: "raw" };
}

/** Sniffs a file: its first 4 KiB and, for a fixed VHD, its last 512 bytes. */
export async function sniffDisk(file: string): Promise<Sniffed> {
  const fh = await open(file, "r");
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    let footer: Buffer | null = null;
    if (size >= 1024) {
      footer = Buffer.alloc(512);
      await fh.read(footer, 0, 512, size - 512);
    }
    return sniffHeader(head.subarray(0, bytesRead), footer);
  } finally {
    await fh.close();
  }
}

/** The header checks that must refuse a disk before qemu-img opens it at all. */
export function refuseBeforeOpening(s: Sniffed): void {
  if (s.format === "vmdk-descriptor") {
    throw badRequest("UNSAFE_DISK_IMAGE", "The VMDK is a descriptor file that names other files as its extents: upload a single-file VMDK (monolithicSparse or streamOptimized)");
  }
  if (s.format === "vmdk" && s.zeroCapacity) {
    throw badRequest("UNSAFE_DISK_IMAGE", "The VMDK has a capacity of 0, which makes its embedded descriptor name the extents: upload a single-file VMDK (monolithicSparse or streamOptimized)");
  }
  if (s.format === "vmdk" && s.parentHint) {
    throw badRequest("UNSAFE_DISK_IMAGE", "The VMDK names a parent disk (parentFileNameHint): uploaded disks must be self-contained");
  }
  if (s.format === "qcow2" && s.externalDataFile) {
    throw badRequest("UNSAFE_DISK_IMAGE", "The qcow2 disk keeps its data in an external data file: uploaded disks must be self-contained");
  }
  if (s.format === "unsupported") throw badRequest("UNSUPPORTED_DISK_FORMAT", `The disk format ${s.name} is not supported`);
}

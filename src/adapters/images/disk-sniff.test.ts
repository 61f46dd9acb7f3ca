import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError } from "../../core/errors.ts";
import { refuseBeforeOpening, sniffHeader } from "./disk-sniff.ts";

const header = (text: string, size = 4096) => {
  const b = Buffer.alloc(size);
  b.write(text, "latin1");
  return b;
};

function qcow2(version: number, incompatible: bigint): Buffer {
  const b = header("QFI\xfb");
  b.writeUInt32BE(version, 4);
  b.writeBigUInt64BE(incompatible, 72);
  return b;
}

describe("sniffHeader()", () => {
  it("tells the formats apart by their magic", () => {
    assert.equal(sniffHeader(qcow2(3, 0n), null).format, "qcow2");
    const kdmv = header("KDMV");
    kdmv.writeBigUInt64LE(2048n, 12);
    assert.deepEqual(sniffHeader(kdmv, null), { format: "vmdk", zeroCapacity: false, parentHint: false });
    assert.equal(sniffHeader(header("# Disk DescriptorFile\nversion=1\n"), null).format, "vmdk-descriptor");
    assert.equal(sniffHeader(header("vhdxfile"), null).format, "vhdx");
    assert.equal(sniffHeader(header("conectix"), null).format, "vpc");
    assert.equal(sniffHeader(header(""), header("conectix", 512)).format, "vpc", "a fixed VHD by its footer");
    const vdi = header("<<< Oracle VM VirtualBox Disk Image >>>\n");
    vdi.writeUInt32LE(0xbeda107f, 64);
    assert.equal(sniffHeader(vdi, null).format, "vdi");
    assert.equal(sniffHeader(header("anything else"), null).format, "raw");
    assert.deepEqual(sniffHeader(header("QED\0"), null), { format: "unsupported", name: "qed" });
    assert.deepEqual(sniffHeader(qcow2(1, 0n), null), { format: "unsupported", name: "qcow (version 1)" });
  });

  it("reads a truncated qcow2 header without throwing", () => {
    assert.equal(sniffHeader(Buffer.from("QFI\xfb\0\0\0\x03", "latin1"), null).format, "qcow2");
  });

  it("refuses a qcow2 external data file and a VMDK descriptor before anything opens them", () => {
    const refused = (b: Buffer) => assert.throws(() => refuseBeforeOpening(sniffHeader(b, null)), (e: unknown) => e instanceof AppError && e.code === "UNSAFE_DISK_IMAGE");
    refused(qcow2(3, 4n));
    refused(header('# Disk DescriptorFile\ncreateType="monolithicFlat"\nRW 2048 FLAT "/etc/shadow" 0\n'));
    assert.doesNotThrow(() => refuseBeforeOpening(sniffHeader(qcow2(3, 1n), null)), "the dirty bit is harmless");
    // Sparse VMDKs: capacity 0 (the embedded descriptor's extents count), or a parent hint in the descriptor.
    refused(header("KDMV"));
    const hinted = header("KDMV");
    hinted.writeBigUInt64LE(2048n, 12);
    hinted.writeBigUInt64LE(1n, 28);
    hinted.writeBigUInt64LE(2n, 36);
    hinted.write('# Disk DescriptorFile\nparentFileNameHint="/etc/shadow"\ncreateType="streamOptimized"\n', 512, "latin1");
    refused(hinted);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError } from "../../core/errors.ts";
import { checkSelfContained } from "./disk-policy.ts";

const file = "/data/tmp/upload-op-1";
const opened = `json:{"driver":"qcow2","file":{"driver":"file","filename":"${file}"}}`;
const refused = (info: object, what: RegExp) =>
  assert.throws(() => checkSelfContained(info, file), (e: unknown) => e instanceof AppError && e.code === "UNSAFE_DISK_IMAGE" && what.test(e.message));

describe("checkSelfContained()", () => {
  it("accepts a plain qcow2 and a single-extent sparse VMDK", () => {
    checkSelfContained({ format: "qcow2", filename: opened, "format-specific": { type: "qcow2", data: { compat: "1.1" } } }, file);
    checkSelfContained({ format: "vmdk", filename: file, "format-specific": { type: "vmdk", data: { "create-type": "streamOptimized", extents: [{ filename: file, format: "SPARSE" }] } } }, file);
  });

  it("refuses backing files by any name, without echoing the name", () => {
    refused({ "backing-filename": "/etc/shadow" }, /backing file \(a file path\)/);
    refused({ "backing-filename": "nbd:127.0.0.1:1" }, /through the nbd: protocol/);
    refused({ "full-backing-filename": "../admin-token" }, /backing file/);
    assert.throws(() => checkSelfContained({ "backing-filename": "/etc/shadow" }, file), (e: Error) => !e.message.includes("shadow"));
  });

  it("refuses an external data file, FLAT or foreign or several VMDK extents, and other VMDK kinds", () => {
    refused({ "format-specific": { type: "qcow2", data: { "data-file": "/etc/shadow" } } }, /external data file/);
    refused({ "format-specific": { type: "vmdk", data: { "create-type": "monolithicFlat", extents: [{ filename: "/etc/shadow", format: "FLAT" }] } } }, /monolithicFlat/);
    refused({ "format-specific": { type: "vmdk", data: { "create-type": "monolithicSparse", extents: [{ filename: "/etc/x", format: "SPARSE" }] } } }, /another file/);
    refused({ "format-specific": { type: "vmdk", data: { "create-type": "monolithicSparse", extents: [{ filename: file, format: "FLAT" }] } } }, /FLAT extent/);
    refused({ "format-specific": { type: "vmdk", data: { "create-type": "monolithicSparse", extents: [] } } }, /0 extents/);
  });

  it("refuses a file opened through anything but the file protocol", () => {
    refused({ filename: "nbd://127.0.0.1/x" }, /protocol/);
    refused({ filename: `json:{"driver":"qcow2","file":{"driver":"http","filename":"${file}"}}` }, /protocol/);
  });
});

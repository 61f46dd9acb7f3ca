import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { WindowsFacts } from "./windows.ts";
import { preflightFindings, sysprepRunLimit } from "./windows-preflight.ts";

const clean: WindowsFacts = {
  partitions: [{ device: "/dev/sda1", vfsType: "ntfs" }],
  cdromStart: 1,
  removableStorageDeny: [],
  pantherAnswerFiles: [],
  appxPerUser: [{ sid: "S-1-5-21-1-2-3-500", packageFullName: "Microsoft.Calc_1.0_x64__8wekyb3d8bbwe" }],
  appxProvisioned: ["Microsoft.Calc_1.0_x64__8wekyb3d8bbwe"],
  serverFeatures: [{ name: "Web-Server", installState: 1 }, { name: "AD-Domain-Services", installState: 0 }],
  productType: "ServerNT",
  radius: { clients: [], remoteServerGroups: [] },
  localProfiles: [{ sid: "S-1-5-21-1-2-3-500", path: "C:\\Users\\Administrator" }],
};

const codes = (facts: Partial<WindowsFacts>, generalizations = 0) =>
  preflightFindings({ ...clean, ...facts }, { generalizations }).map((f) => `${f.severity} ${f.code}`);

describe("Sysprep preflight rules", () => {
  it("finds nothing on a clean disk (a provisioned app, an uninstalled role, one profile)", () => {
    assert.deepEqual(codes({}), []);
  });

  it("flags an encrypted partition by its vfs-type", () => {
    assert.deepEqual(codes({ partitions: [...clean.partitions, { device: "/dev/sda2", vfsType: "BitLocker" }] }), ["blocking BITLOCKER"]);
  });

  it("flags the CD-ROM driver disabled and a deny policy, but not a deny set to 0", () => {
    assert.deepEqual(codes({ cdromStart: 4 }), ["blocking CDROM_DISABLED"]);
    const key = "Policies\\Microsoft\\Windows\\RemovableStorageDevices";
    assert.deepEqual(codes({ removableStorageDeny: [{ key, value: "Deny_All", data: 1 }] }), ["blocking CDROM_DISABLED"]);
    assert.deepEqual(codes({ removableStorageDeny: [{ key, value: "Deny_All", data: 0 }] }), []);
  });

  it("warns of a leftover Panther answer file", () => {
    assert.deepEqual(codes({ pantherAnswerFiles: ["/Windows/Panther/unattend.xml"] }), ["warning PANTHER_UNATTEND"]);
  });

  it("flags a Store app installed for a user and not provisioned for all", () => {
    const appxPerUser = [...clean.appxPerUser, { sid: "S-1-5-21-1-2-3-1001", packageFullName: "Contoso.App_2.0_x64__abc" }];
    const found = preflightFindings({ ...clean, appxPerUser }, { generalizations: 0 });
    assert.deepEqual(found.map((f) => f.code), ["APPX_NOT_PROVISIONED"]);
    assert.match(found[0]!.where, /S-1-5-21-1-2-3-1001\\Contoso\.App/);
  });

  it("refuses past the Sysprep run limit that imagesmith counts", () => {
    assert.deepEqual(codes({}, sysprepRunLimit - 1), []);
    assert.deepEqual(codes({}, sysprepRunLimit), ["blocking SYSPREP_LIMIT"]);
  });

  it("flags installed unsupported roles and a domain controller, by own properties only", () => {
    assert.deepEqual(codes({ serverFeatures: [{ name: "AD-Certificate", installState: 1 }] }), ["blocking UNSUPPORTED_ROLE"]);
    assert.deepEqual(codes({ productType: "LanmanNT" }), ["blocking UNSUPPORTED_ROLE"]);
    assert.deepEqual(codes({ serverFeatures: [{ name: "constructor", installState: 1 }, { name: "__proto__", installState: 1 }] }), []);
  });

  it("flags NPS RADIUS clients and remote server groups, naming them", () => {
    const found = preflightFindings({ ...clean, radius: { clients: ["vpn1"], remoteServerGroups: ["corp"] } }, { generalizations: 0 });
    assert.deepEqual(found.map((f) => f.code), ["NPS_RADIUS"]);
    assert.match(found[0]!.where, /client vpn1, remote server group corp/);
  });

  it("warns of more than one local profile", () => {
    const localProfiles = [...clean.localProfiles, { sid: "S-1-5-21-1-2-3-1001", path: "C:\\Users\\alice" }];
    assert.deepEqual(codes({ localProfiles }), ["warning MULTIPLE_PROFILES"]);
  });

  it("every finding says where and how to fix", () => {
    const all = preflightFindings({ ...clean, cdromStart: 4, productType: "LanmanNT", pantherAnswerFiles: ["/Windows/Panther/unattend.xml"] }, { generalizations: 2000 });
    for (const f of all) assert.ok(f.where && f.message && f.fix, JSON.stringify(f));
  });
});

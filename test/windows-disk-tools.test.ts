// WindowsDiskTools on the synthetic Windows disks (test/windows-disks.ts), with
// real libguestfs and hivex. Appliance launches: 4 (plus 1 to build the disks
// when .cache/windows has none): inspect() of every disk at once, generalize(),
// removeLeftoverAnswerFiles(), and one read-only session that reads both back.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { GuestfishSession } from "../src/adapters/guest/guestfish-session.ts";
import { WindowsDiskTools } from "../src/adapters/guest/windows-disk-tools.ts";
import type { WindowsFacts, WindowsInspection } from "../src/core/windows.ts";
import { preflightFindings } from "../src/core/windows-preflight.ts";
import { removeDir } from "./helpers.ts";
import { adminSid, cdDvdClass, hostnames, provisionedApp, secondSid, userOnlyApp, windowsDisks, type DiskName } from "./windows-disks.ts";

const run = promisify(execFile);
const env = { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" };

/** A raw disk of 8 MiB: an MBR with one partition from sector 2048 that holds only a BitLocker header, or nothing at all. */
async function rawDisk(file: string, bitlocker: boolean): Promise<void> {
  const f = await open(file, "w");
  await f.truncate(8 << 20);
  if (bitlocker) {
    const mbr = Buffer.alloc(512);
    mbr.writeUInt32LE(0x5eed0001, 440);
    Buffer.from([0x00, 0xfe, 0xff, 0xff, 0x07, 0xfe, 0xff, 0xff]).copy(mbr, 446);
    mbr.writeUInt32LE(2048, 454);
    mbr.writeUInt32LE(16384 - 2048, 458);
    mbr.writeUInt16LE(0xaa55, 510);
    const header = Buffer.alloc(512);
    Buffer.from([0xeb, 0x58, 0x90, ...Buffer.from("-FVE-FS-")]).copy(header);
    header.writeBigUInt64LE(65536n, 176);
    header.writeUInt16LE(0xaa55, 510);
    const fve = Buffer.from("-FVE-FS-\0\0\x02\0", "latin1");
    await f.write(mbr, 0, 512, 0);
    await f.write(header, 0, 512, 2048 * 512);
    await f.write(fve, 0, fve.length, 2048 * 512 + 65536);
  }
  await f.close();
}

/** Arrays sorted, so that facts compare whatever order the hive lists keys in. */
function sorted(facts: WindowsFacts | null): unknown {
  if (!facts) return facts;
  return Object.fromEntries(Object.entries(facts).map(([k, v]) => [k, Array.isArray(v) ? [...(v as unknown[])].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) : v]));
}

const cleanFacts: Omit<WindowsFacts, "partitions"> = {
  cdromStart: 1,
  removableStorageDeny: [],
  pantherAnswerFiles: [],
  appxPerUser: [{ sid: adminSid, packageFullName: provisionedApp }],
  appxProvisioned: [provisionedApp],
  serverFeatures: [{ name: "DirectoryServices-DomainController", installState: 0 }, { name: "Web-Server", installState: 0 }],
  productType: "ServerNT",
  radius: { clients: [], remoteServerGroups: [] },
  localProfiles: [{ sid: adminSid, path: "C:\\Users\\Administrator" }],
};

/** The one cause each disk plants, over the clean disk's facts. */
const planted: Record<DiskName, Partial<WindowsFacts>> = {
  clean: {},
  bitlocker: {},
  "cdrom-disabled": { cdromStart: 4 },
  "removable-deny": { removableStorageDeny: [{ key: `HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\RemovableStorageDevices\\${cdDvdClass}`, value: "Deny_Read", data: 1 }] },
  "panther-unattend": { pantherAnswerFiles: ["/Windows/Panther/Unattend.xml"] },
  "appx-user-only": { appxPerUser: [...cleanFacts.appxPerUser, { sid: adminSid, packageFullName: userOnlyApp }] },
  "server-role": { serverFeatures: [{ name: "DirectoryServices-DomainController", installState: 1 }, { name: "Web-Server", installState: 0 }], productType: "LanmanNT" },
  "nps-radius": { radius: { clients: ["Core Switch"], remoteServerGroups: ["Upstream RADIUS"] } },
  "two-profiles": { localProfiles: [...cleanFacts.localProfiles, { sid: secondSid, path: "C:\\Users\\alice" }] },
};

describe("WindowsDiskTools on synthetic Windows Server 2022 disks", { timeout: 1_800_000 }, () => {
  const tools = new WindowsDiskTools("tcg");
  let disks: Record<DiskName, string>;
  let names: DiskName[];
  let work: string;
  let results: Awaited<ReturnType<WindowsDiskTools["inspect"]>>;
  const overlay = async (base: string, name: string) => {
    const file = join(work, name);
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", file]);
    return file;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "imagesmith-windows-test-"));
    disks = await windowsDisks();
    names = Object.keys(disks) as DiskName[];
    await rawDisk(join(work, "bitlocker-only.raw"), true);
    await rawDisk(join(work, "blank.raw"), false);
    // One appliance for all of them.
    results = await tools.inspect([
      ...names.map((n) => ({ file: disks[n], format: "qcow2" })),
      { file: join(work, "bitlocker-only.raw"), format: "raw" },
      { file: join(work, "blank.raw"), format: "raw" },
    ]);
  });
  after(() => removeDir(work));

  it("inspect() reads the clean disk as Windows Server 2022 Standard, x86_64, with its hostname", () => {
    const expected: WindowsInspection = {
      productName: "Windows Server 2022 Standard", majorVersion: 10, minorVersion: 0, installationType: "Server",
      arch: "x86_64", hostname: hostnames.clean, systemRoot: "/Windows",
    };
    assert.deepEqual(results[names.indexOf("clean")]?.windows, expected);
    for (const [i, name] of names.entries()) assert.equal(results[i]?.windows?.hostname, hostnames[name], `the hostname of ${name} (current control set, not the stale one)`);
  });

  it("inspect() finds on each disk exactly the cause planted there, and none on the clean disk", () => {
    for (const [i, name] of names.entries()) {
      const dev = `/dev/sd${String.fromCharCode(97 + i)}`;
      const partitions = name === "bitlocker" ? [{ device: `${dev}1`, vfsType: "ntfs" }, { device: `${dev}2`, vfsType: "BitLocker" }] : [{ device: `${dev}1`, vfsType: "ntfs" }];
      const expected: WindowsFacts = { ...cleanFacts, partitions, ...planted[name] };
      assert.deepEqual(sorted(results[i]?.facts ?? null), sorted(expected), `the facts of ${name}`);
    }
  });

  it("the Sysprep preflight flags exactly the planted cause on each disk, and nothing on the clean one", () => {
    const expected: Record<DiskName, string[]> = {
      clean: [],
      bitlocker: ["blocking BITLOCKER"],
      "cdrom-disabled": ["blocking CDROM_DISABLED"],
      "removable-deny": ["blocking CDROM_DISABLED"],
      "panther-unattend": ["warning PANTHER_UNATTEND"],
      "appx-user-only": ["blocking APPX_NOT_PROVISIONED"],
      // The domain controller role installed, and the product type that says so.
      "server-role": ["blocking UNSUPPORTED_ROLE", "blocking UNSUPPORTED_ROLE"],
      "nps-radius": ["blocking NPS_RADIUS"],
      "two-profiles": ["warning MULTIPLE_PROFILES"],
    };
    for (const [i, name] of names.entries()) {
      const facts = results[i]?.facts;
      assert.ok(facts, name);
      assert.deepEqual(preflightFindings(facts, { generalizations: 0 }).map((f) => `${f.severity} ${f.code}`), expected[name], name);
    }
    const bitlockerOnly = results[names.length]?.facts;
    assert.ok(bitlockerOnly);
    assert.deepEqual(preflightFindings(bitlockerOnly, { generalizations: 0 }).map((f) => f.code), ["BITLOCKER"]);
  });

  it("inspect() reports a disk without Windows: with its partitions when one is BitLocker, else nothing", () => {
    const dev = `/dev/sd${String.fromCharCode(97 + names.length)}`;
    assert.deepEqual(results[names.length], {
      windows: null,
      facts: { ...cleanFacts, cdromStart: null, productType: null, appxPerUser: [], appxProvisioned: [], serverFeatures: [], localProfiles: [], partitions: [{ device: `${dev}1`, vfsType: "BitLocker" }] },
    });
    assert.deepEqual(results[names.length + 1], { windows: null, facts: null });
    assert.equal(results.length, names.length + 2);
  });

  it("generalize() sets fDenyTSConnections=1 in the current control set; removeLeftoverAnswerFiles() deletes Panther's unattend", async () => {
    const generalized = await overlay(disks.clean, "generalized.qcow2");
    await tools.generalize(generalized);
    const answered = await overlay(disks["panther-unattend"], "answered.qcow2");
    assert.deepEqual(await tools.removeLeftoverAnswerFiles(answered), ["/Windows/Panther/Unattend.xml"]);

    const hive = join(work, "SYSTEM");
    const g = new GuestfishSession({ disks: [{ file: generalized, format: "qcow2" }, { file: answered, format: "qcow2" }], readonly: true, env, timeoutMs: 600_000, context: "the changed disks" });
    let left: string;
    try {
      await g.send(["run", "mount-ro /dev/sda1 /", `download /Windows/System32/config/SYSTEM ${hive}`, "umount /", "mount-ro /dev/sdb1 /"]);
      left = (await g.send(["is-file /Windows/Panther/Unattend.xml", "is-file /Windows/Panther/setupact.log"])).trim();
      await g.close();
    } finally {
      await g.kill();
    }
    const get = async (set: string) => (await run("hivexget", [hive, `${set}\\Control\\Terminal Server`, "fDenyTSConnections"])).stdout.trim();
    assert.equal(await get("ControlSet001"), "1");
    assert.equal(await get("ControlSet002"), "0", "the stale control set is left alone");
    assert.equal(left, "false\ntrue", "the answer file is gone, Panther's other files stay");
  });
});

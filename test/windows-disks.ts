// Synthetic Windows Server 2022 system disks, built from scratch (no Windows
// media can be had here): an MBR disk, one NTFS partition with a Windows tree
// whose SYSTEM and SOFTWARE hives hivexregedit filled, and a PE32+ cmd.exe that
// libguestfs's file-architecture reads as x86_64. Each disk but `clean` plants
// one cause of a failing Sysprep. All disks are built in one guestfish session
// (one appliance), which also checks that `clean` inspects as Windows, and are
// cached under .cache/windows/<hash of this file>.
import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { cacheDir } from "./helpers.ts";

const run = promisify(execFile);

export type DiskName =
  | "clean" | "bitlocker" | "cdrom-disabled" | "removable-deny" | "panther-unattend"
  | "appx-user-only" | "server-role" | "nps-radius" | "two-profiles";

type RegData = string | number | { expand: string } | { hex: number[] };
/** Registry keys (below the hive root) and their values. */
type RegKeys = Record<string, Record<string, RegData>>;

interface DiskSpec {
  name: DiskName;
  hostname: string;
  /** The MBR disk id (bytes at 0x1b8), which MountedDevices names for C:. */
  diskId: number[];
  system: RegKeys;
  software: RegKeys;
  /** Guest path to content, written after the Windows tree. */
  files: Record<string, string>;
  /** A second partition carrying a BitLocker (Windows 7 and later) header. */
  bitlocker: boolean;
}

export const hostnames: Record<DiskName, string> = {
  clean: "WS22-CLEAN", bitlocker: "WS22-BITLOCKER", "cdrom-disabled": "WS22-NOCDROM", "removable-deny": "WS22-DENYCD",
  "panther-unattend": "WS22-PANTHER", "appx-user-only": "WS22-APPX", "server-role": "WS22-DC", "nps-radius": "WS22-NPS",
  "two-profiles": "WS22-PROFILES",
};
export const adminSid = "S-1-5-21-1004336348-1177238915-682003330-500";
export const secondSid = "S-1-5-21-1004336348-1177238915-682003330-1001";
export const provisionedApp = "Microsoft.SecHealthUI_1000.20348.1.0_neutral__8wekyb3d8bbwe";
export const userOnlyApp = "Contoso.Notes_1.2.0.0_x64__8wekyb3d8bbwe";
export const cdDvdClass = "{53f56308-b6bf-11d0-94f2-00a0c91efb8b}";
/** Where the partition holding C: starts (sector 2048), as MountedDevices records it. */
const partStart = 2048 * 512;
const diskMiB = 48;
const windowsSectors = 40 * 2048;

const iasXml = `<?xml version="1.0" encoding="UTF-8"?>
<Root><Children><Microsoft_Internet_Authentication_Service name="Microsoft_Internet_Authentication_Service"><Children>
<Protocols name="Protocols"><Children><Microsoft_Radius_Protocol name="Microsoft_Radius_Protocol"><Children>
<Clients name="Clients"><Children>
<Core_Switch name="Core Switch"><Properties><IP_Address xmlns:dt="urn:schemas-microsoft-com:datatypes" dt:dt="string">192.0.2.10</IP_Address></Properties></Core_Switch>
</Children></Clients>
</Children></Microsoft_Radius_Protocol></Children></Protocols>
<RADIUS_Server_Groups name="RADIUS_Server_Groups"><Children>
<Upstream_RADIUS name="Upstream RADIUS"><Children><_192_0_2_20 name="192.0.2.20"><Properties><Address xmlns:dt="urn:schemas-microsoft-com:datatypes" dt:dt="string">192.0.2.20</Address></Properties></_192_0_2_20></Children></Upstream_RADIUS>
</Children></RADIUS_Server_Groups>
</Children></Microsoft_Internet_Authentication_Service></Children></Root>
`;

const unattendXml = `<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="oobeSystem"/></unattend>
`;

function baseSystem(spec: { hostname: string; diskId: number[] }): RegKeys {
  const offset = Buffer.alloc(8);
  offset.writeBigUInt64LE(BigInt(partStart));
  const controlSet = (cdromStart: number, productType: string, hostname: string): RegKeys => ({
    "Control\\ProductOptions": { ProductType: productType },
    "Control\\Terminal Server": { fDenyTSConnections: 0 },
    "Services\\Tcpip\\Parameters": { Hostname: hostname, Domain: "" },
    "Services\\cdrom": { Start: cdromStart, Type: 1 },
  });
  const keys: RegKeys = {
    Select: { Current: 1, Default: 1, Failed: 0, LastKnownGood: 2 },
    MountedDevices: { "\\DosDevices\\C:": { hex: [...spec.diskId, ...offset] } },
  };
  // ControlSet002 is a stale set that disagrees: whoever reads it instead of the current one is caught.
  for (const [set, values] of [["ControlSet001", controlSet(1, "ServerNT", spec.hostname)], ["ControlSet002", controlSet(4, "WinNT", "STALE-SET")]] as const) {
    for (const [k, v] of Object.entries(values)) keys[`${set}\\${k}`] = v;
  }
  return keys;
}

function baseSoftware(): RegKeys {
  const cv = "Microsoft\\Windows NT\\CurrentVersion";
  const store = "Microsoft\\Windows\\CurrentVersion\\Appx\\AppxAllUserStore";
  const cache = "Microsoft\\ServerManager\\ServicingStorage\\ServerComponentCache";
  return {
    [cv]: {
      ProductName: "Windows Server 2022 Standard", EditionID: "ServerStandard", InstallationType: "Server",
      CurrentVersion: "6.3", CurrentBuildNumber: "20348", CurrentBuild: "20348", DisplayVersion: "21H2",
      CurrentMajorVersionNumber: 10, CurrentMinorVersionNumber: 0,
    },
    [`${cv}\\ProfileList\\S-1-5-18`]: { ProfileImagePath: { expand: "%systemroot%\\system32\\config\\systemprofile" } },
    [`${cv}\\ProfileList\\S-1-5-19`]: { ProfileImagePath: { expand: "%systemroot%\\ServiceProfiles\\LocalService" } },
    [`${cv}\\ProfileList\\S-1-5-20`]: { ProfileImagePath: { expand: "%systemroot%\\ServiceProfiles\\NetworkService" } },
    [`${cv}\\ProfileList\\${adminSid}`]: { ProfileImagePath: { expand: "C:\\Users\\Administrator" } },
    [`${store}\\Applications\\${provisionedApp}`]: { Path: `C:\\Program Files\\WindowsApps\\${provisionedApp}\\AppxManifest.xml` },
    [`${store}\\${adminSid}\\${provisionedApp}`]: {},
    [`${cache}\\DirectoryServices-DomainController`]: { InstallState: 0 },
    [`${cache}\\Web-Server`]: { InstallState: 0 },
  };
}

function specs(): DiskSpec[] {
  const names = Object.keys(hostnames) as DiskName[];
  return names.map((name, i) => {
    const hostname = hostnames[name];
    const diskId = [0x4d, 0x3c, 0x2b, 0x10 + i];
    const spec: DiskSpec = { name, hostname, diskId, system: baseSystem({ hostname, diskId }), software: baseSoftware(), files: {}, bitlocker: false };
    const cv = "Microsoft\\Windows NT\\CurrentVersion";
    if (name === "bitlocker") spec.bitlocker = true;
    if (name === "cdrom-disabled") spec.system["ControlSet001\\Services\\cdrom"] = { Start: 4, Type: 1 };
    if (name === "removable-deny") spec.software[`Policies\\Microsoft\\Windows\\RemovableStorageDevices\\${cdDvdClass}`] = { Deny_Read: 1 };
    if (name === "panther-unattend") spec.files["/Windows/Panther/Unattend.xml"] = unattendXml;
    if (name === "appx-user-only") spec.software[`Microsoft\\Windows\\CurrentVersion\\Appx\\AppxAllUserStore\\${adminSid}\\${userOnlyApp}`] = {};
    if (name === "server-role") {
      spec.software["Microsoft\\ServerManager\\ServicingStorage\\ServerComponentCache\\DirectoryServices-DomainController"] = { InstallState: 1 };
      spec.system["ControlSet001\\Control\\ProductOptions"] = { ProductType: "LanmanNT" };
    }
    if (name === "nps-radius") spec.files["/Windows/System32/ias/ias.xml"] = iasXml;
    if (name === "two-profiles") spec.software[`${cv}\\ProfileList\\${secondSid}`] = { ProfileImagePath: { expand: "C:\\Users\\alice" } };
    return spec;
  });
}

/**
 * A hive with only its root key (named ROOT, as hivex's own "minimal" test
 * hive): the 4 KiB base block, and one 4 KiB hbin with the root nk cell, its sk
 * (security) cell that new keys share, and a free cell for the rest.
 */
export function emptyHive(): Buffer {
  const buf = Buffer.alloc(0x2000);
  buf.write("regf", 0, "latin1");
  buf.writeUInt32LE(1, 0x04); // primary and secondary sequence numbers agree: the hive is consistent
  buf.writeUInt32LE(1, 0x08);
  buf.writeUInt32LE(1, 0x14); // version 1.3
  buf.writeUInt32LE(3, 0x18);
  buf.writeUInt32LE(1, 0x20); // file format: direct memory load
  buf.writeUInt32LE(0x20, 0x24); // root cell, relative to the first hbin
  buf.writeUInt32LE(0x1000, 0x28); // size of the hbins
  buf.writeUInt32LE(1, 0x2c);
  let sum = 0;
  for (let i = 0; i < 0x1fc; i += 4) sum ^= buf.readUInt32LE(i);
  buf.writeUInt32LE(sum >>> 0, 0x1fc);
  const hbin = 0x1000;
  buf.write("hbin", hbin, "latin1");
  buf.writeUInt32LE(0x1000, hbin + 8);
  const nk = hbin + 0x20;
  buf.writeInt32LE(-0x58, nk); // negative: allocated
  buf.write("nk", nk + 4, "latin1");
  buf.writeUInt16LE(0x2c, nk + 6); // hive entry (root), no delete, ASCII name
  for (const field of [0x20, 0x24, 0x2c, 0x34]) buf.writeUInt32LE(0xffffffff, nk + field); // no subkey lists, values, class
  buf.writeUInt32LE(0x78, nk + 0x30); // its sk cell
  buf.writeUInt16LE(4, nk + 0x4c);
  buf.write("ROOT", nk + 0x50, "latin1");
  const sk = hbin + 0x78;
  buf.writeInt32LE(-0x30, sk);
  buf.write("sk", sk + 4, "latin1");
  buf.writeUInt32LE(0x78, sk + 8); // the list of sk cells: only itself
  buf.writeUInt32LE(0x78, sk + 12);
  buf.writeUInt32LE(1, sk + 16); // reference count
  buf.writeUInt32LE(20, sk + 20); // an empty self-relative security descriptor
  buf.writeUInt32LE(0x80040001, sk + 24);
  buf.writeInt32LE(0x1000 - 0xa8, hbin + 0xa8); // positive: free
  return buf;
}

/** A PE32+ console executable for x86-64 with one section (`xor eax, eax; ret`). */
export function pe64Stub(): Buffer {
  const buf = Buffer.alloc(0x400);
  buf.write("MZ", 0, "latin1");
  buf.writeUInt32LE(0x40, 0x3c);
  buf.write("PE\0\0", 0x40, "latin1");
  const coff = 0x44;
  buf.writeUInt16LE(0x8664, coff);
  buf.writeUInt16LE(1, coff + 2);
  buf.writeUInt16LE(0xf0, coff + 16);
  buf.writeUInt16LE(0x22, coff + 18); // executable, large address aware
  const opt = coff + 20;
  buf.writeUInt16LE(0x20b, opt); // PE32+
  buf.writeUInt32LE(0x200, opt + 4);
  buf.writeUInt32LE(0x1000, opt + 16);
  buf.writeUInt32LE(0x1000, opt + 20);
  buf.writeBigUInt64LE(0x140000000n, opt + 24);
  buf.writeUInt32LE(0x1000, opt + 32);
  buf.writeUInt32LE(0x200, opt + 36);
  buf.writeUInt16LE(6, opt + 40);
  buf.writeUInt16LE(6, opt + 48);
  buf.writeUInt32LE(0x2000, opt + 56);
  buf.writeUInt32LE(0x200, opt + 60);
  buf.writeUInt16LE(3, opt + 68); // console subsystem
  buf.writeUInt16LE(0x8160, opt + 70);
  buf.writeBigUInt64LE(0x100000n, opt + 72);
  buf.writeBigUInt64LE(0x1000n, opt + 80);
  buf.writeBigUInt64LE(0x100000n, opt + 88);
  buf.writeBigUInt64LE(0x1000n, opt + 96);
  buf.writeUInt32LE(16, opt + 108);
  const section = opt + 0xf0;
  buf.write(".text", section, "latin1");
  buf.writeUInt32LE(3, section + 8);
  buf.writeUInt32LE(0x1000, section + 12);
  buf.writeUInt32LE(0x200, section + 16);
  buf.writeUInt32LE(0x200, section + 20);
  buf.writeUInt32LE(0x60000020, section + 36);
  Buffer.from([0x31, 0xc0, 0xc3]).copy(buf, 0x200);
  return buf;
}

/** .reg text for keys, with every ancestor key too (hivexregedit creates no missing parents). */
export function regText(root: string, keys: RegKeys): string {
  const all = new Map<string, Record<string, RegData>>();
  for (const [key, values] of Object.entries(keys)) {
    const parts = key.split("\\");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("\\");
      if (!all.has(parent)) all.set(parent, {});
    }
    all.set(key, { ...all.get(key), ...values });
  }
  const hex = (type: string, bytes: Iterable<number>) => `${type}:${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join(",")}`;
  const quote = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  const data = (v: RegData) =>
    typeof v === "number" ? `dword:${v.toString(16).padStart(8, "0")}`
    : typeof v === "string" ? quote(v)
    : "expand" in v ? hex("hex(2)", Buffer.from(`${v.expand}\0`, "utf16le"))
    : hex("hex", v.hex);
  const lines = ["Windows Registry Editor Version 5.00", ""];
  for (const key of [...all.keys()].sort()) {
    lines.push(`[${root}\\${key}]`);
    for (const [name, v] of Object.entries(all.get(key) ?? {})) lines.push(`${quote(name)}=${data(v)}`);
    lines.push("");
  }
  return lines.join("\n");
}

/** A guestfish double-quoted string (guestfish reads backslash escapes in it). */
const q = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
/** Bytes as a guestfish string of \x escapes (guestfish strings cannot hold NUL: callers write only non-zero runs). */
const bytes = (b: number[]) => `"${b.map((x) => `\\x${x.toString(16).padStart(2, "0")}`).join("")}"`;

/** The guestfish commands that lay out one disk (device dev) from the files in dir. */
function diskScript(spec: DiskSpec, dev: string, dir: string): string[] {
  const lines = [`part-init ${dev} mbr`];
  if (spec.bitlocker) {
    lines.push(`part-add ${dev} p 2048 ${2048 + windowsSectors - 1}`, `part-add ${dev} p ${2048 + windowsSectors} -1`, `part-set-mbr-id ${dev} 2 0x07`);
  } else {
    lines.push(`part-add ${dev} p 2048 -1`);
  }
  lines.push(`part-set-mbr-id ${dev} 1 0x07`, `part-set-bootable ${dev} 1 true`, `pwrite-device ${dev} ${bytes(spec.diskId)} 440`);
  if (spec.bitlocker) {
    // The Windows 7+ BitLocker boot sector, and the FVE metadata block it points to at 64 KiB (blkid checks both).
    const fve = `${dev}2`;
    lines.push(
      `pwrite-device ${fve} ${bytes([0xeb, 0x58, 0x90, ...Buffer.from("-FVE-FS-")])} 0`,
      `pwrite-device ${fve} ${bytes([0x01])} 178`,
      `pwrite-device ${fve} ${bytes([0x55, 0xaa])} 510`,
      `pwrite-device ${fve} ${bytes([...Buffer.from("-FVE-FS-")])} 65536`,
      `pwrite-device ${fve} ${bytes([0x02])} 65546`,
    );
  }
  lines.push(
    `mkfs ntfs ${dev}1`, `mount ${dev}1 /`,
    "mkdir-p /Windows/System32/config", "mkdir-p /Windows/Panther", "mkdir-p /Users/Administrator", "mkdir-p /Users/Public",
    `upload ${q(join(dir, `${spec.name}.SYSTEM`))} /Windows/System32/config/SYSTEM`,
    `upload ${q(join(dir, `${spec.name}.SOFTWARE`))} /Windows/System32/config/SOFTWARE`,
    `upload ${q(join(dir, "cmd.exe"))} /Windows/System32/cmd.exe`,
    `write /Windows/Panther/setupact.log ${q("Windows setup log\n")}`,
  );
  if (spec.software[`Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\${secondSid}`]) lines.push("mkdir-p /Users/alice");
  Object.keys(spec.files).forEach((path, i) => {
    lines.push(`mkdir-p ${q(path.slice(0, path.lastIndexOf("/")))}`, `upload ${q(join(dir, `${spec.name}.file${i}`))} ${q(path)}`);
  });
  lines.push("umount /");
  return lines;
}

async function build(target: string): Promise<void> {
  const all = specs();
  const dir = `${target}.tmp-${randomBytes(6).toString("hex")}`;
  await mkdir(dir, { recursive: true });
  try {
    await writeFile(join(dir, "cmd.exe"), pe64Stub());
    const script: string[] = [];
    const args = ["--format=qcow2"];
    for (const [i, spec] of all.entries()) {
      for (const [hive, keys] of [["SYSTEM", spec.system], ["SOFTWARE", spec.software]] as const) {
        const file = join(dir, `${spec.name}.${hive}`);
        await writeFile(file, emptyHive());
        await writeFile(`${file}.reg`, regText(`HKEY_LOCAL_MACHINE\\${hive}`, keys));
        await run("hivexregedit", ["--merge", "--prefix", `HKEY_LOCAL_MACHINE\\${hive}`, file, `${file}.reg`], { timeout: 60_000 });
      }
      for (const [j, content] of Object.values(spec.files).entries()) await writeFile(join(dir, `${spec.name}.file${j}`), content);
      const disk = join(dir, `${spec.name}.qcow2`);
      await run("qemu-img", ["create", "-q", "-f", "qcow2", disk, `${diskMiB}M`], { timeout: 60_000 });
      args.push("-a", disk);
      script.push(...diskScript(spec, `/dev/sd${String.fromCharCode(97 + i)}`, dir));
    }
    // The check, in the same appliance: the clean disk (the first) inspects as Windows Server 2022 with C: mapped.
    script.push("echo @inspect", "inspect-os", "echo @product", "inspect-get-product-name /dev/sda1", "echo @hostname", "inspect-get-hostname /dev/sda1", "echo @drives", "inspect-get-drive-mappings /dev/sda1");
    const out = await guestfish(args, ["run", ...script].join("\n"));
    const section = (name: string) => out.split(`@${name}\n`)[1]?.split("\n@")[0]?.trim() ?? "";
    const product = section("product");
    if (product !== "Windows Server 2022 Standard" || section("hostname") !== hostnames.clean || !/^C: \/dev\/sda1$/m.test(section("drives"))) {
      throw new Error(`The synthetic clean disk did not inspect as Windows Server 2022 with C: on /dev/sda1:\n${out}`);
    }
    await rename(dir, target).catch(async (err: NodeJS.ErrnoException) => {
      // Another caller built the same disks first: theirs are as good.
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
      await rm(dir, { recursive: true, force: true });
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function guestfish(args: string[], script: string): Promise<string> {
  const env = { ...process.env, LIBGUESTFS_BACKEND: "direct", LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" };
  return new Promise((resolve, reject) => {
    const child = spawn("guestfish", args, { env, stdio: ["pipe", "pipe", "pipe"], timeout: 15 * 60_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-8192)));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`guestfish failed to build the Windows disks (${code}): ${stderr.trim().split("\n").slice(-5).join(" | ")}`))));
    child.stdin.end(`${script}\n`);
  });
}

let built: Promise<Record<DiskName, string>> | undefined;

/** Paths to the qcow2 disks, built on the first call (and cached across runs); do not write to them: use an overlay. */
export function windowsDisks(): Promise<Record<DiskName, string>> {
  built ??= (async () => {
    const source = await readFile(fileURLToPath(import.meta.url));
    const key = createHash("sha256").update(source).update(emptyHive()).update(pe64Stub()).digest("hex").slice(0, 16);
    const target = join(cacheDir, "windows", key);
    await mkdir(join(cacheDir, "windows"), { recursive: true });
    if (!(await stat(join(target, "clean.qcow2")).then(() => true, () => false))) await build(target);
    return Object.fromEntries(specs().map((s) => [s.name, join(target, `${s.name}.qcow2`)])) as Record<DiskName, string>;
  })();
  return built;
}

import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XMLParser } from "fast-xml-parser";
import type { WindowsTools } from "../../core/ports.ts";
import type { WindowsFacts, WindowsInspection } from "../../core/windows.ts";
import { GuestfishSession, quote } from "./guestfish-session.ts";
import { exportKey, setDword, valueOf } from "./hivex.ts";

/** Larger than any real hive (SOFTWARE reaches a few hundred MiB): a bigger file is not a hive to read. */
const hiveLimit = 1024 << 20;
const iasLimit = 16 << 20;
const sessionTimeoutMs = 30 * 60_000;
/** The answer files Windows Setup leaves in Panther, below the system root; Sysprep fails on them. */
const answerFiles = ["Panther/unattend.xml", "Panther/autounattend.xml", "Panther/Unattend/unattend.xml"];
const cdDvdClass = "{53f56308-b6bf-11d0-94f2-00a0c91efb8b}";
const removableStorage = "Policies\\Microsoft\\Windows\\RemovableStorageDevices";

interface Root {
  device: string;
  systemRoot: string;
}

/** libguestfs and hivex on Windows disks that no VM uses. */
export class WindowsDiskTools implements WindowsTools {
  private readonly env: NodeJS.ProcessEnv;

  constructor(accelerator: "kvm" | "tcg") {
    this.env = { ...process.env, LIBGUESTFS_BACKEND: "direct", ...(accelerator === "tcg" ? { LIBGUESTFS_BACKEND_SETTINGS: "force_tcg" } : {}) };
  }

  async inspect(disks: Array<{ file: string; format: string }>): Promise<Array<{ windows: WindowsInspection | null; facts: WindowsFacts | null }>> {
    if (disks.length === 0) return [];
    const g = this.open(disks, true, `the disks ${disks.map((d) => d.file).join(", ")}`);
    const work = await mkdtemp(join(tmpdir(), "imagesmith-windows-")).catch(async (err: unknown) => {
      await g.kill();
      throw err;
    }); // mode 0700: hives hold secrets
    try {
      const first = await g.sections(["run", g.mark("devices"), "list-devices", g.mark("partitions"), "list-partitions", g.mark("roots"), "inspect-os"]);
      const devices = first.get("devices") ?? [];
      const partitions = first.get("partitions") ?? [];
      const roots = first.get("roots") ?? [];
      // vfs-type on every partition: list-filesystems leaves BitLocker volumes out.
      const second = await g.sections([
        ...partitions.flatMap((p) => [g.mark(`vfs ${p}`), `-vfs-type ${p}`]),
        ...roots.flatMap((r) => [g.mark(`type ${r}`), `inspect-get-type ${r}`]),
      ]);
      const results = [];
      for (const [i, disk] of disks.entries()) {
        const device = devices[i] ?? "";
        g.context = `the disk ${disk.file}`;
        const parts = partitions.filter((p) => onDevice(device, p)).map((p) => ({ device: p, vfsType: second.get(`vfs ${p}`)?.[0] ?? "" }));
        const root = roots.find((r) => onDevice(device, r) && second.get(`type ${r}`)?.[0] === "windows");
        if (!root) {
          results.push({ windows: null, facts: parts.some((p) => p.vfsType === "BitLocker") ? { ...noFacts(), partitions: parts } : null });
          continue;
        }
        results.push(await this.inspectRoot(g, root, parts, join(work, String(i)), disk.file));
      }
      await g.close();
      return results;
    } finally {
      await g.kill();
      await rm(work, { recursive: true, force: true });
    }
  }

  private async inspectRoot(g: GuestfishSession, device: string, partitions: WindowsFacts["partitions"], local: string, file: string): Promise<{ windows: WindowsInspection; facts: WindowsFacts }> {
    const info = await g.sections([
      ...["product-name", "major-version", "minor-version", "product-variant", "arch", "hostname", "windows-systemroot"].flatMap((k) => [g.mark(k), `inspect-get-${k} ${device}`]),
    ]);
    const one = (k: string) => (info.get(k) ?? []).join("\n");
    const root = { device, systemRoot: one("windows-systemroot") };
    const windows: WindowsInspection = {
      productName: one("product-name"),
      majorVersion: Number(one("major-version")),
      minorVersion: Number(one("minor-version")),
      installationType: one("product-variant"),
      arch: one("arch"),
      hostname: one("hostname") === "unknown" || one("hostname") === "" ? null : one("hostname"),
      systemRoot: root.systemRoot,
    };
    await g.send([`mount-ro ${device} /`]);
    const found = await findFiles(g, root.systemRoot, ["System32/config/SYSTEM", "System32/config/SOFTWARE", "System32/ias/ias.xml", ...answerFiles]);
    const [system, software, ias] = [found.get("System32/config/SYSTEM"), found.get("System32/config/SOFTWARE"), found.get("System32/ias/ias.xml")];
    if (!system || !software) throw new Error(`The Windows root ${device} of ${file} has no SYSTEM or SOFTWARE hive under ${root.systemRoot}/System32/config`);
    await download(g, [[system, `${local}.SYSTEM`, hiveLimit], [software, `${local}.SOFTWARE`, hiveLimit], ...(ias ? [[ias, `${local}.ias.xml`, iasLimit] as const] : [])], file);
    await g.send(["umount /"]);
    const facts = await readFacts(`${local}.SYSTEM`, `${local}.SOFTWARE`, file);
    facts.partitions = partitions;
    facts.pantherAnswerFiles = answerFiles.map((f) => found.get(f)).filter((p): p is string => p !== undefined);
    if (ias) facts.radius = parseIas(await readFile(`${local}.ias.xml`), file);
    return { windows, facts };
  }

  async removeLeftoverAnswerFiles(disk: string): Promise<string[]> {
    return this.change(disk, async (g) => {
      const root = await windowsRoot(g, disk);
      return removeAnswerFiles(g, root);
    });
  }

  async generalize(disk: string): Promise<void> {
    const work = await mkdtemp(join(tmpdir(), "imagesmith-windows-"));
    try {
      await this.change(disk, async (g) => {
        const root = await windowsRoot(g, disk);
        const hive = (await findFiles(g, root.systemRoot, ["System32/config/SYSTEM"])).get("System32/config/SYSTEM");
        if (!hive) throw new Error(`The Windows root ${root.device} of ${disk} has no SYSTEM hive`);
        const local = join(work, "SYSTEM");
        await download(g, [[hive, local, hiveLimit]], disk);
        // Remote Desktop closed until the new instance's first boot opens it (the unattend's specialize pass).
        await setDword(local, `${await currentControlSet(local, disk)}\\Control\\Terminal Server`, "fDenyTSConnections", 1);
        await g.send([`upload ${quote(local)} ${quote(hive)}`]);
        await removeAnswerFiles(g, root);
      });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** Runs fn in a read-write session on a qcow2 disk, its root mounted; the session closes (and syncs) after. */
  private async change<T>(disk: string, fn: (g: GuestfishSession) => Promise<T>): Promise<T> {
    const g = this.open([{ file: disk, format: "qcow2" }], false, `the disk ${disk}`);
    try {
      await g.send(["run"]);
      const result = await fn(g);
      await g.send(["umount-all"]);
      await g.close();
      return result;
    } finally {
      await g.kill();
    }
  }

  private open(disks: Array<{ file: string; format: string }>, readonly: boolean, context: string): GuestfishSession {
    return new GuestfishSession({ disks, readonly, env: this.env, timeoutMs: sessionTimeoutMs, context });
  }
}

/** Whether a partition (or a filesystem on the whole device) is on device: /dev/sda1 on /dev/sda, not on /dev/sd. */
function onDevice(device: string, path: string): boolean {
  return device !== "" && (path === device || (path.startsWith(device) && /^p?\d+$/.test(path.slice(device.length))));
}

/** Finds the (only) Windows root of a disk and mounts it read-write at /. */
async function windowsRoot(g: GuestfishSession, disk: string): Promise<Root> {
  const roots = (await g.sections([g.mark("roots"), "inspect-os"])).get("roots") ?? [];
  const types = await g.sections(roots.flatMap((r) => [g.mark(r), `inspect-get-type ${r}`]));
  const device = roots.find((r) => types.get(r)?.[0] === "windows");
  if (!device) throw new Error(`No Windows installation found on ${disk}`);
  const systemRoot = (await g.sections([g.mark("root"), `inspect-get-windows-systemroot ${device}`, `mount ${device} /`])).get("root")?.[0] ?? "";
  return { device, systemRoot };
}

/** Guest paths (in their real case) of the files below systemRoot that exist, by the name asked for. */
async function findFiles(g: GuestfishSession, systemRoot: string, names: string[]): Promise<Map<string, string>> {
  // case-sensitive-path fails when a directory on the way is missing: "-" lets the session go on.
  const paths = await g.sections(names.flatMap((n) => [g.mark(n), `-case-sensitive-path ${quote(`${systemRoot}/${n}`)}`]));
  const candidates = names.map((n) => [n, paths.get(n)?.[0]] as const).filter((c): c is readonly [string, string] => c[1] !== undefined);
  const isFile = await g.sections(candidates.flatMap(([n, p]) => [g.mark(n), `is-file ${quote(p)}`]));
  return new Map(candidates.filter(([n]) => isFile.get(n)?.[0] === "true"));
}

/** Downloads each file, at most limit bytes of it; a file that reaches the limit is refused. */
async function download(g: GuestfishSession, files: ReadonlyArray<readonly [string, string, number]>, disk: string): Promise<void> {
  await g.send(files.map(([guest, local, limit]) => `download-offset ${quote(guest)} ${quote(local)} 0 ${limit}`));
  for (const [guest, local, limit] of files) {
    if ((await stat(local)).size >= limit) throw new Error(`${guest} on ${disk} is larger than ${limit} bytes: refused`);
  }
}

async function removeAnswerFiles(g: GuestfishSession, root: Root): Promise<string[]> {
  const found = [...(await findFiles(g, root.systemRoot, answerFiles)).values()];
  if (found.length > 0) await g.send(found.map((p) => `rm ${quote(p)}`));
  return found;
}

/** ControlSet00N from Select\Current: the set Windows boots with. */
async function currentControlSet(systemHive: string, disk: string): Promise<string> {
  const current = valueOf((await exportKey(systemHive, "Select")).get(""), "Current");
  if (typeof current !== "number" || current < 1 || current > 999) throw new Error(`The SYSTEM hive of ${disk} has no valid Select\\Current`);
  return `ControlSet${String(current).padStart(3, "0")}`;
}

function noFacts(): WindowsFacts {
  return {
    partitions: [], cdromStart: null, removableStorageDeny: [], pantherAnswerFiles: [], appxPerUser: [], appxProvisioned: [],
    serverFeatures: [], productType: null, radius: { clients: [], remoteServerGroups: [] }, localProfiles: [],
  };
}

/** What the SYSTEM and SOFTWARE hives say; partitions, Panther and NPS are filled in by the caller. */
async function readFacts(systemHive: string, softwareHive: string, disk: string): Promise<WindowsFacts> {
  const set = await currentControlSet(systemHive, disk);
  const [options, cdrom, removable, store, features, profiles] = await Promise.all([
    exportKey(systemHive, `${set}\\Control\\ProductOptions`),
    exportKey(systemHive, `${set}\\Services\\cdrom`),
    exportKey(softwareHive, removableStorage),
    exportKey(softwareHive, "Microsoft\\Windows\\CurrentVersion\\Appx\\AppxAllUserStore"),
    exportKey(softwareHive, "Microsoft\\ServerManager\\ServicingStorage\\ServerComponentCache"),
    exportKey(softwareHive, "Microsoft\\Windows NT\\CurrentVersion\\ProfileList"),
  ]);
  const facts = noFacts();
  facts.productType = valueOf(options.get(""), "ProductType") ?? null;
  facts.cdromStart = valueOf(cdrom.get(""), "Start") ?? null;
  for (const [key, names] of [["", ["Deny_All"]], [cdDvdClass, ["Deny_Read", "Deny_Execute"]]] as const) {
    // Registry key names are case-insensitive; the path reported is the hive's own spelling.
    const [name, values] = [...removable.entries()].find(([k]) => k.toLowerCase() === key.toLowerCase()) ?? ["", undefined];
    for (const value of names) {
      const data = valueOf(values, value);
      if (data !== undefined) facts.removableStorageDeny.push({ key: `HKLM\\SOFTWARE\\${removableStorage}${name ? `\\${name}` : ""}`, value, data });
    }
  }
  for (const path of store.keys()) {
    const [parent, pkg, ...deeper] = path.split("\\");
    if (!parent || !pkg || deeper.length > 0) continue;
    if (parent.toLowerCase() === "applications") facts.appxProvisioned.push(pkg);
    else if (/^S-1-5-/.test(parent)) facts.appxPerUser.push({ sid: parent, packageFullName: pkg });
  }
  for (const [name, values] of features) {
    if (name !== "" && !name.includes("\\")) facts.serverFeatures.push({ name, installState: valueOf(values, "InstallState") ?? null });
  }
  for (const [sid, values] of profiles) {
    const path = valueOf(values, "ProfileImagePath");
    if (/^S-1-5-21-[\d-]+$/.test(sid)) facts.localProfiles.push({ sid, path: typeof path === "string" ? path : "" });
  }
  return facts;
}

/** The RADIUS clients and remote RADIUS server groups of an NPS configuration (System32\ias\ias.xml). */
export function parseIas(data: Buffer, disk: string): WindowsFacts["radius"] {
  if (data.length > iasLimit) throw new Error(`The NPS configuration ias.xml on ${disk} is larger than ${iasLimit} bytes: refused`);
  const text = data[0] === 0xff && data[1] === 0xfe ? data.subarray(2).toString("utf16le") : data.toString("utf8");
  let doc: unknown;
  try {
    // No entities: a configuration file needs none, and their expansion is a way to blow up.
    doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_", processEntities: false }).parse(text, true);
  } catch (err) {
    throw new Error(`The NPS configuration ias.xml on ${disk} is not XML: ${(err as Error).message}`);
  }
  const clients = new Set<string>();
  const groups = new Set<string>();
  walk(doc, 0, (tag, node) => {
    if (tag === "Microsoft_Radius_Protocol") childNames(child(child(child(node, "Children"), "Clients"), "Children")).forEach((n) => clients.add(n));
    if (tag === "RADIUS_Server_Groups") childNames(child(node, "Children")).forEach((n) => groups.add(n));
  });
  return { clients: [...clients], remoteServerGroups: [...groups] };
}

type XmlNode = Record<string, unknown>;
const isNode = (v: unknown): v is XmlNode => typeof v === "object" && v !== null && !Array.isArray(v);
const child = (node: unknown, tag: string): unknown => (isNode(node) ? node[tag] : undefined);

/** The names (their name attribute, else their tag) of an element's child elements. */
function childNames(node: unknown): string[] {
  if (!isNode(node)) return [];
  return Object.entries(node)
    .filter(([tag]) => !tag.startsWith("@_") && tag !== "#text")
    .flatMap(([tag, v]) => (Array.isArray(v) ? v : [v]).map((e) => (isNode(e) && typeof e["@_name"] === "string" ? e["@_name"] : tag)));
}

function walk(node: unknown, depth: number, visit: (tag: string, node: unknown) => void): void {
  if (depth > 64) return;
  const items = Array.isArray(node) ? node : [node];
  for (const item of items) {
    if (!isNode(item)) continue;
    for (const [tag, v] of Object.entries(item)) {
      if (tag.startsWith("@_")) continue;
      for (const e of Array.isArray(v) ? v : [v]) visit(tag, e);
      walk(v, depth + 1, visit);
    }
  }
}

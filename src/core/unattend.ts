// The answer file (unattend.xml) imagesmith writes for each launch of a
// generalized Windows image: the model, how it is built from the image's and
// the launch's settings, and the rules it must pass before it is used. Windows
// Setup reads it after Sysprep, in the generalize, specialize and oobeSystem
// passes, as EC2Launch's and Azure's do. Rendering to XML is the adapter's
// (adapters/guest/unattend-xml.ts).
import { badRequest } from "./errors.ts";
import { isId } from "./ids.ts";
import { componentSchema, walkGroup, type GroupNode } from "./unattend-schema.ts";

export type Pass = "generalize" | "specialize" | "oobeSystem";
export type Arch = "amd64" | "x86" | "arm64";

export type SettingValue = string | number | boolean | SettingGroup | SettingGroup[];
export interface SettingGroup {
  [name: string]: SettingValue;
}

export interface Component {
  name: string;
  processorArchitecture: Arch;
  publicKeyToken: string;
  language: string;
  versionScope: string;
  /** Elements in the order they are written; a list becomes `wcm:action="add"` items. */
  settings: SettingGroup;
}

export interface PassSettings {
  pass: Pass;
  components: Component[];
}

export interface AnswerFile {
  /** The image's architecture: every component must be declared for it. */
  arch: Arch;
  passes: PassSettings[];
}

export interface AnswerFileSettings {
  computerName: string;
  /** A Windows time zone id; default "UTC", as EC2Launch. */
  timeZone?: string;
  /** Default false: Sysprep removes the profiles, no customized Administrator profile is copied. */
  copyProfile?: boolean;
  /** Default "en-US"; used for InputLocale, SystemLocale, UILanguage and UserLocale. */
  locale?: string;
  registeredOrganization?: string;
  registeredOwner?: string;
  /** Default amd64. */
  arch?: Arch;
  /** fetch: EC2Launch's Random/Specify, the password comes from the metadata service; keep: Keep Existing; disable: None. */
  admin: "fetch" | "keep" | "disable";
  /** The metadata service as the guest sees it, e.g. http://169.254.169.254. */
  metadataUrl: string;
}

export const publicKeyToken = "31bf3856ad364e35";
export const passOrder: readonly Pass[] = ["generalize", "specialize", "oobeSystem"];
const arches: readonly string[] = ["amd64", "x86", "arm64"];
const both: readonly Pass[] = ["specialize", "oobeSystem"];

/**
 * Which top-level setting of which component may go in which pass: Microsoft's
 * "Valid Configuration Passes", narrowed to the three passes imagesmith writes
 * (ComputerName is also valid in offlineServicing, RunSynchronous in auditUser;
 * we write neither pass).
 */
export const settingPasses: Readonly<Record<string, Readonly<Record<string, readonly Pass[]>>>> = {
  "Microsoft-Windows-PnpSysprep": { DoNotCleanUpNonPresentDevices: ["generalize"], PersistAllDeviceInstalls: ["generalize"] },
  "Microsoft-Windows-Shell-Setup": {
    ComputerName: ["specialize"],
    CopyProfile: ["specialize"],
    OOBE: ["oobeSystem"],
    RegisteredOrganization: both,
    RegisteredOwner: both,
    TimeZone: both,
  },
  "Microsoft-Windows-Deployment": { RunSynchronous: ["specialize"] },
  "Microsoft-Windows-International-Core": { InputLocale: both, SystemLocale: both, UILanguage: both, UILanguageFallback: both, UserLocale: both },
};

const refuse = (why: string) => badRequest("INVALID_ANSWER_FILE", `Invalid answer file: ${why}`);

/** Refuses an answer file that Windows Setup would reject or misread: wrong pass, component, architecture or setting. */
export function checkAnswerFile(f: AnswerFile): void {
  if (!arches.includes(f.arch)) throw refuse(`the image architecture ${JSON.stringify(f.arch)} is not one of ${arches.join(", ")}`);
  const passesSeen = new Set<string>();
  for (const p of f.passes) {
    if (!passOrder.includes(p.pass)) throw refuse(`pass ${JSON.stringify(p.pass)} is not one imagesmith writes (${passOrder.join(", ")})`);
    if (passesSeen.has(p.pass)) throw refuse(`pass ${p.pass} appears twice`);
    passesSeen.add(p.pass);
    const componentsSeen = new Set<string>();
    for (const c of p.components) {
      const where = `${p.pass}/${c.name}`;
      if (!Object.hasOwn(componentSchema, c.name) || !Object.hasOwn(settingPasses, c.name)) throw refuse(`${where}: unknown component`);
      if (componentsSeen.has(c.name)) throw refuse(`${where}: the component appears twice in the pass`);
      componentsSeen.add(c.name);
      if (!arches.includes(c.processorArchitecture)) throw refuse(`${where}: processorArchitecture ${JSON.stringify(c.processorArchitecture)} is not one of ${arches.join(", ")}`);
      if (c.processorArchitecture !== f.arch) throw refuse(`${where}: processorArchitecture ${c.processorArchitecture} differs from the image's ${f.arch}; Windows Setup would skip the component`);
      if (c.publicKeyToken !== publicKeyToken) throw refuse(`${where}: publicKeyToken must be ${publicKeyToken}`);
      if (c.language !== "neutral") throw refuse(`${where}: language must be neutral`);
      if (c.versionScope !== "nonSxS") throw refuse(`${where}: versionScope must be nonSxS`);
      if (typeof c.settings !== "object" || c.settings === null || Array.isArray(c.settings)) throw refuse(`${where}: expected settings`);
      const passes = settingPasses[c.name] as Record<string, readonly Pass[]>;
      for (const name of Object.keys(c.settings)) {
        if (!Object.hasOwn(passes, name)) throw refuse(`${where}/${name}: unknown setting`);
        const allowed = passes[name] as readonly Pass[];
        if (!allowed.includes(p.pass)) throw refuse(`${where}/${name}: not allowed in the ${p.pass} pass (only ${allowed.join(", ")})`);
      }
      walkGroup(where, componentSchema[c.name] as GroupNode, c.settings);
    }
  }
}

/**
 * The computer name for an instance: "I-" and the last 13 hex digits of its id,
 * upper-cased (i-0123456789abcdef0 → I-456789ABCDEF0). That is 15 characters,
 * NetBIOS's limit; the letter keeps it from being all digits, and the 13 digits
 * are 52 random bits of the id, so two instances of a host do not collide.
 */
export function computerNameFor(instanceId: string): string {
  if (!isId("instance", instanceId)) throw badRequest("INVALID_ANSWER_FILE", `Cannot name the computer after ${JSON.stringify(instanceId)}: not an instance id`);
  return `I-${instanceId.slice(-13).toUpperCase()}`;
}

const component = (name: string, arch: Arch, settings: SettingGroup): Component => ({
  name,
  processorArchitecture: arch,
  publicKeyToken,
  language: "neutral",
  versionScope: "nonSxS",
  settings,
});

// The metadata service address is put inside a PowerShell single-quoted string: only URL characters with no quote.
const metadataUrlPattern = /^https?:\/\/[A-Za-z0-9.:[\]-]+(?:\/[A-Za-z0-9._~/-]*)?$/;

const enableRdp = 'reg add "HKLM\\System\\CurrentControlSet\\Control\\Terminal Server" /v fDenyTSConnections /t REG_DWORD /d 0 /f';

/**
 * The specialize-pass commands, in order, after EC2Launch's (net user, the
 * password, then SysprepSpecializePhase.cmd re-enabling RDP). The image was
 * captured with fDenyTSConnections = 1, so RDP stays shut until the last one.
 * No password is ever written here: the guest fetches it at run time.
 */
export function adminCommands(admin: AnswerFileSettings["admin"], metadataUrl: string): Array<{ description: string; path: string }> {
  const rdp = { description: "Re-enable RDP", path: enableRdp };
  if (admin === "keep") return [rdp]; // Keep Existing: the account and its password are left as they are.
  // None: EC2Launch disables Administrator when no password is given, and still runs
  // its RDP re-enable. The lock only covers the blank-password window of the first
  // boot, which a disabled account closes; other accounts keep their own passwords.
  if (admin === "disable") return [{ description: "Disable Administrator", path: "net user Administrator /active:no" }, rdp];
  if (!metadataUrlPattern.test(metadataUrl)) throw refuse(`metadataUrl ${JSON.stringify(metadataUrl)} is not a plain http(s) URL`);
  const base = `${metadataUrl.replace(/\/+$/, "")}/imagesmith`;
  return [
    // The account stays inactive until its password is set, so a failed fetch leaves no open blank-password account.
    { description: "Administrator password rules", path: "net user Administrator /active:no /logonpasswordchg:no /expires:never /passwordreq:yes" },
    {
      // The service answers admin-password once, to this instance only, as the bare password (text/plain).
      description: "Set the Administrator password from the metadata service",
      // -EA Stop: a failed fetch must end the script, or net user would enable the account without a password.
      path:
        `powershell -NoProfile -Command "$u='${base}';$p=irm ($u+'/admin-password') -EA Stop;` +
        "net user Administrator $p /active:yes;if($LASTEXITCODE){exit 1};irm ($u+'/password-set') -Method Post\"",
    },
    rdp,
  ];
}

/** The answer file for one launch; it is checked before it is returned. */
export function buildAnswerFile(s: AnswerFileSettings): AnswerFile {
  const arch = s.arch ?? "amd64";
  const locale = s.locale ?? "en-US";
  const shell: SettingGroup = { ComputerName: s.computerName, CopyProfile: s.copyProfile ?? false, TimeZone: s.timeZone ?? "UTC" };
  if (s.registeredOrganization !== undefined) shell.RegisteredOrganization = s.registeredOrganization;
  if (s.registeredOwner !== undefined) shell.RegisteredOwner = s.registeredOwner;
  const commands = adminCommands(s.admin, s.metadataUrl).map((c, i) => ({ Description: c.description, Order: i + 1, Path: c.path, WillReboot: "Never" }));
  const f: AnswerFile = {
    arch,
    passes: [
      {
        pass: "generalize",
        // Keep the drivers and the PnP state of the devices of this VM type, as EC2Launch does.
        components: [component("Microsoft-Windows-PnpSysprep", arch, { PersistAllDeviceInstalls: true, DoNotCleanUpNonPresentDevices: true })],
      },
      {
        pass: "specialize",
        components: [component("Microsoft-Windows-Shell-Setup", arch, shell), component("Microsoft-Windows-Deployment", arch, { RunSynchronous: commands })],
      },
      {
        pass: "oobeSystem",
        components: [
          component("Microsoft-Windows-International-Core", arch, { InputLocale: locale, SystemLocale: locale, UILanguage: locale, UserLocale: locale }),
          component("Microsoft-Windows-Shell-Setup", arch, {
            OOBE: { HideEULAPage: true, HideWirelessSetupInOOBE: true, NetworkLocation: "Work", ProtectYourPC: 3 },
          }),
        ],
      },
    ],
  };
  checkAnswerFile(f);
  return f;
}

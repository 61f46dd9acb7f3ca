// The structural schema imagesmith keeps for the answer files it writes: for
// each component, the settings it may hold, their types and limits, taken from
// Microsoft's Unattended Windows Setup Reference. It is deliberately a subset:
// only what imagesmith writes, so anything else (a typo, a setting from another
// Windows release, a Credentials or AdministratorPassword element) is refused
// rather than passed through. Which pass a setting may go in is not here: that
// table is ours, in unattend.ts.
import { badRequest } from "./errors.ts";
import type { SettingGroup, SettingValue } from "./unattend.ts";

export type SchemaNode =
  | { kind: "string"; maxLength: number; pattern?: RegExp; rule?: string }
  | { kind: "boolean" }
  | { kind: "int"; min: number; max: number }
  | { kind: "enum"; values: readonly string[] }
  | GroupNode
  /** A keyed list (`wcm:action="add"` items); `order` names the child that numbers the items 1..n. */
  | { kind: "list"; item: GroupNode; order?: string; maxItems: number };

export interface GroupNode {
  kind: "group";
  children: Readonly<Record<string, SchemaNode>>;
  required?: readonly string[];
}

const text = (maxLength: number, pattern?: RegExp, rule?: string): SchemaNode => ({ kind: "string", maxLength, pattern, rule });
const bool: SchemaNode = { kind: "boolean" };
const locale = text(85, /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$/, "a language tag such as en-US");

/**
 * NetBIOS-valid: letters, digits and hyphens, not all digits, no leading or
 * trailing hyphen (Microsoft forbids spaces and { | } ~ [ \ ] ^ ' : ; < = > ? @
 * ! " # $ % ` ( ) + / . , * &; we keep to the DNS-safe remainder, and "*", the
 * random name, is never what imagesmith means).
 */
export const computerNamePattern = /^(?![0-9]+$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

const runSynchronousCommand: GroupNode = {
  kind: "group",
  // No Credentials: a command that needs them would put a password at rest.
  children: {
    Description: text(259),
    Order: { kind: "int", min: 1, max: 500 },
    Path: text(259),
    WillReboot: { kind: "enum", values: ["Always", "Never", "OnRequest"] },
  },
  required: ["Order", "Path"],
};

export const componentSchema: Readonly<Record<string, GroupNode>> = {
  "Microsoft-Windows-PnpSysprep": {
    kind: "group",
    children: { DoNotCleanUpNonPresentDevices: bool, PersistAllDeviceInstalls: bool },
  },
  "Microsoft-Windows-Shell-Setup": {
    kind: "group",
    children: {
      ComputerName: text(15, computerNamePattern, "letters, digits and inner hyphens, not only digits"),
      CopyProfile: bool,
      OOBE: {
        kind: "group",
        children: {
          HideEULAPage: bool,
          HideLocalAccountScreen: bool,
          HideOEMRegistrationScreen: bool,
          HideOnlineAccountScreens: bool,
          HideWirelessSetupInOOBE: bool,
          NetworkLocation: { kind: "enum", values: ["Home", "Work", "Other"] },
          ProtectYourPC: { kind: "int", min: 1, max: 3 },
          SkipMachineOOBE: bool,
          SkipUserOOBE: bool,
        },
      },
      RegisteredOrganization: text(256),
      RegisteredOwner: text(256),
      // A Windows time zone id (a key under Time Zones, 32 characters at most: TIME_ZONE_INFORMATION's names).
      TimeZone: text(32, /^[A-Za-z0-9][A-Za-z0-9 .+()-]*$/, "a Windows time zone id such as UTC"),
    },
  },
  "Microsoft-Windows-Deployment": {
    kind: "group",
    children: {
      RunSynchronous: { kind: "list", item: runSynchronousCommand, order: "Order", maxItems: 500 },
    },
  },
  "Microsoft-Windows-International-Core": {
    kind: "group",
    children: {
      // InputLocale also takes keyboard ids (0409:00000409), several separated by ";".
      InputLocale: text(256, /^(?:[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}|[0-9A-Fa-f]{4}:[0-9A-Fa-f]{8})(?:;(?:[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}|[0-9A-Fa-f]{4}:[0-9A-Fa-f]{8}))*$/, "language tags or keyboard ids separated by ;"),
      SystemLocale: locale,
      UILanguage: locale,
      UILanguageFallback: locale,
      UserLocale: locale,
    },
  },
};

/** The child element that a list's items are wrapped in (RunSynchronous holds RunSynchronousCommand). */
export const listItemName: Readonly<Record<string, string>> = { RunSynchronous: "RunSynchronousCommand" };

// Characters XML 1.0 cannot carry, and the C0 controls Windows Setup has no use for.
const notText = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const refuse = (where: string, why: string) => badRequest("INVALID_ANSWER_FILE", `Invalid answer file at ${where}: ${why}`);

const isGroup = (v: SettingValue | undefined): v is SettingGroup => typeof v === "object" && v !== null && !Array.isArray(v);

/** Checks one value against its schema node; `where` names it (pass/component/setting path) in the error. */
export function walkSetting(where: string, node: SchemaNode, value: SettingValue | undefined): void {
  switch (node.kind) {
    case "string":
      if (typeof value !== "string") throw refuse(where, "expected text");
      // Microsoft: "This string type does not support empty elements".
      if (value.length === 0) throw refuse(where, "empty; leave the setting out instead");
      if (value.length > node.maxLength) throw refuse(where, `${value.length} characters, at most ${node.maxLength}`);
      if (notText.test(value)) throw refuse(where, "holds a control character");
      if (node.pattern && !node.pattern.test(value)) throw refuse(where, `${JSON.stringify(value)} is not ${node.rule ?? "valid"}`);
      return;
    case "boolean":
      if (typeof value !== "boolean") throw refuse(where, "expected true or false");
      return;
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) throw refuse(where, "expected a whole number");
      if (value < node.min || value > node.max) throw refuse(where, `${value} is outside ${node.min}..${node.max}`);
      return;
    case "enum":
      if (typeof value !== "string" || !node.values.includes(value)) throw refuse(where, `expected one of ${node.values.join(", ")}`);
      return;
    case "group":
      walkGroup(where, node, value);
      return;
    case "list":
      walkList(where, node, value);
      return;
  }
}

/** A group: only known children (own properties, so __proto__ or constructor are unknown), the required ones present. */
export function walkGroup(where: string, node: GroupNode, value: SettingValue | undefined): void {
  if (!isGroup(value)) throw refuse(where, "expected nested settings");
  for (const name of Object.keys(value)) {
    if (!Object.hasOwn(node.children, name)) throw refuse(`${where}/${name}`, "unknown setting");
    walkSetting(`${where}/${name}`, node.children[name] as SchemaNode, value[name]);
  }
  for (const name of node.required ?? []) if (!Object.hasOwn(value, name)) throw refuse(`${where}/${name}`, "required setting missing");
}

function walkList(where: string, node: Extract<SchemaNode, { kind: "list" }>, value: SettingValue | undefined): void {
  if (!Array.isArray(value)) throw refuse(where, "expected a list");
  if (value.length === 0) throw refuse(where, "empty list; leave the setting out instead");
  if (value.length > node.maxItems) throw refuse(where, `${value.length} items, at most ${node.maxItems}`);
  value.forEach((item, i) => walkGroup(`${where}[${i}]`, node.item, item));
  if (!node.order) return;
  // Windows runs the items by this number: each of 1..n exactly once, so none is skipped or run twice.
  const seen = new Set<number>();
  value.forEach((item, i) => {
    const n = item[node.order as string] as number;
    if (seen.has(n)) throw refuse(`${where}[${i}]/${node.order}`, `${n} is used twice`);
    if (n > value.length) throw refuse(`${where}[${i}]/${node.order}`, `${n} is past the ${value.length} items (expected 1..${value.length})`);
    seen.add(n);
  });
}

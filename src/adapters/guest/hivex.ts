import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { RegistryValue } from "../../core/windows.ts";

const run = promisify(execFile);

/** A registry key's values, by name ("" for the default value). */
export type RegistryKey = Map<string, RegistryValue>;

/**
 * Exports key (a path below the hive's root, e.g. `Select`) and all below it
 * with hivexregedit; returns each key by its path relative to key ("" for key
 * itself), or an empty map when the hive has no such key. Only the text that
 * hivexregedit writes is read here: the hive itself is parsed by hivex.
 */
export async function exportKey(hive: string, key: string): Promise<Map<string, RegistryKey>> {
  let stdout: string;
  try {
    ({ stdout } = await run("hivexregedit", ["--export", "--prefix", "HKLM", hive, key], { maxBuffer: 256 << 20, timeout: 2 * 60_000 }));
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    if (/path not found in this hive/.test(e.stderr ?? "")) return new Map();
    throw new Error(`hivexregedit could not read ${key}: ${(e.stderr || e.message || String(err)).trim().split("\n").slice(-2).join(" | ")}`);
  }
  return parseExport(stdout, `HKLM\\${key}`);
}

/** A value by name, which the registry compares without case (as Windows does); undefined when absent. */
export function valueOf(key: RegistryKey | undefined, name: string): RegistryValue | undefined {
  if (!key) return undefined;
  if (key.has(name)) return key.get(name);
  const lower = name.toLowerCase();
  for (const [n, v] of key) if (n.toLowerCase() === lower) return v;
  return undefined;
}

/** Parses hivexregedit's .reg output, keys named relative to base. */
export function parseExport(text: string, base: string): Map<string, RegistryKey> {
  const keys = new Map<string, RegistryKey>();
  let current: RegistryKey | undefined;
  // A long value may be continued on the next line after a trailing backslash.
  for (const line of text.replace(/\\\r?\n\s*/g, "").split(/\r?\n/)) {
    if (line.startsWith("[") && line.endsWith("]")) {
      const path = line.slice(1, -1);
      const relative = path === base ? "" : path.startsWith(`${base}\\`) ? path.slice(base.length + 1) : undefined;
      current = relative === undefined ? undefined : new Map();
      if (current && relative !== undefined) keys.set(relative, current);
      continue;
    }
    if (!current) continue;
    const value = parseValueLine(line);
    if (value) current.set(value.name, value.data);
  }
  return keys;
}

function parseValueLine(line: string): { name: string; data: RegistryValue } | undefined {
  let name: string;
  let rest: string;
  if (line.startsWith("@=")) {
    name = "";
    rest = line.slice(2);
  } else {
    const m = /^"((?:[^"\\]|\\.)*)"=(.*)$/.exec(line);
    if (!m) return undefined;
    name = (m[1] ?? "").replace(/\\(.)/g, "$1");
    rest = m[2] ?? "";
  }
  return { name, data: parseData(rest) };
}

/** REG_SZ and REG_EXPAND_SZ as text, REG_DWORD (and REG_QWORD) as numbers, anything else as null. */
function parseData(data: string): RegistryValue {
  const dword = /^dword:([0-9a-fA-F]{8})$/.exec(data);
  if (dword) return parseInt(dword[1] ?? "0", 16);
  if (data.startsWith('"') && data.endsWith('"')) return data.slice(1, -1).replace(/\\(.)/g, "$1");
  const hex = /^hex(?:\(([0-9a-fA-F]+)\))?:(.*)$/.exec(data);
  if (!hex) return null;
  const type = parseInt(hex[1] ?? "3", 16);
  const bytes = Buffer.from((hex[2] ?? "").split(",").filter(Boolean).map((b) => parseInt(b, 16)));
  if (type === 1 || type === 2) return bytes.toString("utf16le").replace(/\0+$/, "");
  if (type === 4 && bytes.length === 4) return bytes.readUInt32LE(0);
  if (type === 11 && bytes.length === 8) return Number(bytes.readBigUInt64LE(0));
  return null;
}

/** Sets one REG_DWORD with hivexregedit --merge; the key's parent must exist (hivexregedit makes no parents). */
export async function setDword(hive: string, key: string, name: string, value: number): Promise<void> {
  const reg = `Windows Registry Editor Version 5.00\n\n[HKLM\\${key}]\n"${name}"=dword:${value.toString(16).padStart(8, "0")}\n`;
  await new Promise<void>((resolve, reject) => {
    const child = execFile("hivexregedit", ["--merge", "--prefix", "HKLM", hive], { timeout: 2 * 60_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`hivexregedit could not set ${key}\\${name}: ${stderr.trim().split("\n").slice(-2).join(" | ") || err.message}`)) : resolve(),
    );
    child.stdin?.end(reg);
  });
}

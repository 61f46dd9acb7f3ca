import assert from "node:assert/strict";
import { test } from "node:test";
import { XMLParser } from "fast-xml-parser";
import { AppError } from "../../core/errors.ts";
import { buildAnswerFile, type AnswerFile, type AnswerFileSettings } from "../../core/unattend.ts";
import { renderAnswerFile } from "./unattend-xml.ts";

const base: AnswerFileSettings = { computerName: "I-456789ABCDEF0", admin: "fetch", metadataUrl: "http://169.254.169.254" };

// Every repeated element read back as a list, attributes kept, text left as text.
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  isArray: (name) => ["settings", "component", "RunSynchronousCommand"].includes(name),
});

interface Parsed {
  unattend: { "@_xmlns": string; "@_xmlns:wcm": string; settings: Array<{ "@_pass": string; component: Array<Record<string, unknown>> }> };
}
const parse = (xml: string) => parser.parse(xml) as Parsed;
const componentOf = (doc: Parsed, pass: string, name: string) => {
  const c = doc.unattend.settings.find((s) => s["@_pass"] === pass)?.component.find((x) => x["@_name"] === name);
  assert.ok(c, `${pass}/${name}`);
  return c;
};

test("renderAnswerFile() writes the declaration, both namespaces and the three passes in order", () => {
  const xml = renderAnswerFile(buildAnswerFile(base));
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="utf-8"?>'));
  const doc = parse(xml);
  assert.equal(doc.unattend["@_xmlns"], "urn:schemas-microsoft-com:unattend");
  assert.equal(doc.unattend["@_xmlns:wcm"], "http://schemas.microsoft.com/WMIConfig/2002/State");
  assert.deepEqual(doc.unattend.settings.map((s) => s["@_pass"]), ["generalize", "specialize", "oobeSystem"]);
  for (const s of doc.unattend.settings) {
    for (const c of s.component) {
      assert.deepEqual(
        [c["@_processorArchitecture"], c["@_publicKeyToken"], c["@_language"], c["@_versionScope"]],
        ["amd64", "31bf3856ad364e35", "neutral", "nonSxS"],
      );
    }
  }
});

test("renderAnswerFile() writes each setting as Windows Setup reads it, lists with wcm:action=add", () => {
  const doc = parse(renderAnswerFile(buildAnswerFile({ ...base, arch: "arm64" })));
  assert.deepEqual(componentOf(doc, "generalize", "Microsoft-Windows-PnpSysprep"), {
    "@_name": "Microsoft-Windows-PnpSysprep",
    "@_processorArchitecture": "arm64",
    "@_publicKeyToken": "31bf3856ad364e35",
    "@_language": "neutral",
    "@_versionScope": "nonSxS",
    PersistAllDeviceInstalls: "true",
    DoNotCleanUpNonPresentDevices: "true",
  });
  const shell = componentOf(doc, "specialize", "Microsoft-Windows-Shell-Setup");
  assert.deepEqual([shell.ComputerName, shell.CopyProfile, shell.TimeZone], ["I-456789ABCDEF0", "false", "UTC"]);
  const run = componentOf(doc, "specialize", "Microsoft-Windows-Deployment").RunSynchronous as { RunSynchronousCommand: Array<Record<string, string>> };
  assert.deepEqual(run.RunSynchronousCommand.map((c) => [c["@_wcm:action"], c.Order]), [["add", "1"], ["add", "2"], ["add", "3"]]);
  assert.match(run.RunSynchronousCommand[2]?.Path ?? "", /fDenyTSConnections \/t REG_DWORD \/d 0 \/f$/);
  assert.deepEqual(componentOf(doc, "oobeSystem", "Microsoft-Windows-Shell-Setup").OOBE, {
    HideEULAPage: "true",
    HideWirelessSetupInOOBE: "true",
    NetworkLocation: "Work",
    ProtectYourPC: "3",
  });
  const intl = componentOf(doc, "oobeSystem", "Microsoft-Windows-International-Core");
  assert.deepEqual([intl.InputLocale, intl.SystemLocale, intl.UILanguage, intl.UserLocale], ["en-US", "en-US", "en-US", "en-US"]);
});

test("renderAnswerFile() escapes < & \" in RegisteredOrganization and reads back the same text", () => {
  const org = 'Smith & Sons <"Ltd"> \'quoted\'';
  const xml = renderAnswerFile(buildAnswerFile({ ...base, registeredOrganization: org, registeredOwner: "</RegisteredOwner><x>" }));
  assert.ok(xml.includes("&lt;") && xml.includes("&amp;") && xml.includes("&quot;"));
  assert.ok(!xml.includes("<x>") && !xml.includes('<"Ltd">'));
  const shell = componentOf(parse(xml), "specialize", "Microsoft-Windows-Shell-Setup");
  assert.equal(shell.RegisteredOrganization, org);
  assert.equal(shell.RegisteredOwner, "</RegisteredOwner><x>");
});

test("renderAnswerFile() refuses a file that does not pass the check", () => {
  const f = structuredClone(buildAnswerFile(base));
  (f.passes[1] as { pass: string }).pass = "auditUser";
  assert.throws(() => renderAnswerFile(f as AnswerFile), (err: unknown) => err instanceof AppError && err.code === "INVALID_ANSWER_FILE");
});

test("renderAnswerFile() holds no password for any admin mode", () => {
  for (const admin of ["fetch", "keep", "disable"] as const) {
    assert.doesNotMatch(renderAnswerFile(buildAnswerFile({ ...base, admin })), /<(AdministratorPassword|Password|AutoLogon|Credentials|PlainText)>/);
  }
});

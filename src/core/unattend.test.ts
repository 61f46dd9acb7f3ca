import assert from "node:assert/strict";
import { test } from "node:test";
import { AppError } from "./errors.ts";
import { componentSchema } from "./unattend-schema.ts";
import {
  buildAnswerFile,
  checkAnswerFile,
  computerNameFor,
  settingPasses,
  type AnswerFile,
  type AnswerFileSettings,
  type Component,
  type SettingGroup,
} from "./unattend.ts";

const base: AnswerFileSettings = { computerName: "I-456789ABCDEF0", admin: "fetch", metadataUrl: "http://169.254.169.254" };

const component = (f: AnswerFile, pass: string, name: string): Component => {
  const c = f.passes.find((p) => p.pass === pass)?.components.find((x) => x.name === name);
  assert.ok(c, `${pass}/${name} is present`);
  return c;
};
const commands = (f: AnswerFile) => component(f, "specialize", "Microsoft-Windows-Deployment").settings.RunSynchronous as SettingGroup[];
const paths = (f: AnswerFile) => commands(f).map((c) => c.Path as string);
const rdpOn = "reg add \"HKLM\\System\\CurrentControlSet\\Control\\Terminal Server\" /v fDenyTSConnections /t REG_DWORD /d 0 /f";

/** A deep copy to break, so each refusal is tested on its own. */
const copy = (f: AnswerFile): AnswerFile => structuredClone(f);

function refused(f: AnswerFile, message: RegExp): void {
  assert.throws(
    () => checkAnswerFile(f),
    (err: unknown) => err instanceof AppError && err.code === "INVALID_ANSWER_FILE" && err.status === 400 && message.test(err.message),
  );
}

test("buildAnswerFile() makes a file that passes its own check for each admin mode", () => {
  for (const admin of ["fetch", "keep", "disable"] as const) {
    for (const arch of ["amd64", "x86", "arm64"] as const) {
      const f = buildAnswerFile({ ...base, admin, arch });
      checkAnswerFile(f);
      assert.deepEqual(f.passes.map((p) => p.pass), ["generalize", "specialize", "oobeSystem"]);
      for (const p of f.passes) for (const c of p.components) assert.equal(c.processorArchitecture, arch);
    }
  }
});

test("buildAnswerFile() puts the documented settings in each pass, with the defaults", () => {
  const f = buildAnswerFile(base);
  assert.deepEqual(component(f, "generalize", "Microsoft-Windows-PnpSysprep").settings, { PersistAllDeviceInstalls: true, DoNotCleanUpNonPresentDevices: true });
  assert.deepEqual(component(f, "specialize", "Microsoft-Windows-Shell-Setup").settings, { ComputerName: "I-456789ABCDEF0", CopyProfile: false, TimeZone: "UTC" });
  assert.deepEqual(component(f, "oobeSystem", "Microsoft-Windows-International-Core").settings, {
    InputLocale: "en-US",
    SystemLocale: "en-US",
    UILanguage: "en-US",
    UserLocale: "en-US",
  });
  assert.deepEqual(component(f, "oobeSystem", "Microsoft-Windows-Shell-Setup").settings, {
    OOBE: { HideEULAPage: true, HideWirelessSetupInOOBE: true, NetworkLocation: "Work", ProtectYourPC: 3 },
  });
  for (const c of f.passes.flatMap((p) => p.components)) {
    assert.deepEqual([c.publicKeyToken, c.language, c.versionScope], ["31bf3856ad364e35", "neutral", "nonSxS"]);
  }
});

test("buildAnswerFile() takes the time zone, CopyProfile, locale and registered names from the settings", () => {
  const f = buildAnswerFile({ ...base, timeZone: "W. Europe Standard Time", copyProfile: true, locale: "de-DE", registeredOrganization: "Example", registeredOwner: "Ops" });
  assert.deepEqual(component(f, "specialize", "Microsoft-Windows-Shell-Setup").settings, {
    ComputerName: "I-456789ABCDEF0",
    CopyProfile: true,
    TimeZone: "W. Europe Standard Time",
    RegisteredOrganization: "Example",
    RegisteredOwner: "Ops",
  });
  assert.equal(component(f, "oobeSystem", "Microsoft-Windows-International-Core").settings.UILanguage, "de-DE");
});

test("admin=fetch sets the password from the metadata service and re-enables RDP only after it", () => {
  const f = buildAnswerFile(base);
  const list = commands(f);
  assert.deepEqual(list.map((c) => c.Order), [1, 2, 3]);
  const p = paths(f);
  assert.match(p[0] as string, /^net user Administrator \/active:no /);
  assert.match(p[1] as string, /http:\/\/169\.254\.169\.254\/imagesmith/);
  assert.match(p[1] as string, /'\/admin-password'\) -EA Stop;net user Administrator \$p \/active:yes;if\(\$LASTEXITCODE\)\{exit 1\};irm \(\$u\+'\/password-set'\) -Method Post/);
  assert.equal(p[2], rdpOn);
  const rdp = list.find((c) => c.Path === rdpOn);
  const password = list.find((c) => (c.Path as string).includes("admin-password"));
  assert.ok(rdp && password && (rdp.Order as number) > (password.Order as number));
  for (const path of p) assert.ok(path.length <= 259, `${path.length} characters`);
});

test("admin=keep only re-enables RDP; admin=disable disables Administrator first", () => {
  assert.deepEqual(paths(buildAnswerFile({ ...base, admin: "keep" })), [rdpOn]);
  assert.deepEqual(paths(buildAnswerFile({ ...base, admin: "disable" })), ["net user Administrator /active:no", rdpOn]);
});

test("no password is ever written into the answer file", () => {
  for (const admin of ["fetch", "keep", "disable"] as const) {
    const text = JSON.stringify(buildAnswerFile({ ...base, admin }));
    assert.doesNotMatch(text, /AdministratorPassword|AutoLogon|Credentials|PlainText|"Password"/);
    // net user is only ever given the variable the guest fetched at run time.
    for (const path of paths(buildAnswerFile({ ...base, admin }))) {
      const m = /net user Administrator (\S+)/.exec(path);
      if (m && !m[1]?.startsWith("/")) assert.equal(m[1], "$p");
    }
  }
});

test("a password element smuggled into a component is refused as an unknown setting", () => {
  const f = copy(buildAnswerFile(base));
  component(f, "oobeSystem", "Microsoft-Windows-Shell-Setup").settings.UserAccounts = { AdministratorPassword: { Value: "hunter2", PlainText: true } };
  refused(f, /oobeSystem\/Microsoft-Windows-Shell-Setup\/UserAccounts: unknown setting/);
  const g = copy(buildAnswerFile(base));
  (commands(g)[0] as SettingGroup).Credentials = { Password: "hunter2" };
  refused(g, /RunSynchronous\[0\]\/Credentials: unknown setting/);
});

test("a setting in the wrong pass is refused, naming pass, component and setting", () => {
  const f = copy(buildAnswerFile(base));
  component(f, "oobeSystem", "Microsoft-Windows-Shell-Setup").settings.ComputerName = "OTHER";
  refused(f, /oobeSystem\/Microsoft-Windows-Shell-Setup\/ComputerName: not allowed in the oobeSystem pass \(only specialize\)/);
  const g = copy(buildAnswerFile(base));
  component(g, "specialize", "Microsoft-Windows-Shell-Setup").settings.OOBE = { HideEULAPage: true };
  refused(g, /specialize\/Microsoft-Windows-Shell-Setup\/OOBE: not allowed/);
  const h = copy(buildAnswerFile(base));
  (h.passes[1] as { components: Component[] }).components.push(component(h, "generalize", "Microsoft-Windows-PnpSysprep"));
  refused(h, /specialize\/Microsoft-Windows-PnpSysprep\/PersistAllDeviceInstalls: not allowed in the specialize pass \(only generalize\)/);
});

test("International-Core may go in specialize as well as oobeSystem", () => {
  const f = copy(buildAnswerFile(base));
  const intl = component(f, "oobeSystem", "Microsoft-Windows-International-Core");
  (f.passes[1] as { components: Component[] }).components.push(intl);
  checkAnswerFile(f);
});

test("an unknown pass or component, or a pass twice, is refused", () => {
  const f = copy(buildAnswerFile(base));
  (f.passes[0] as { pass: string }).pass = "windowsPE";
  refused(f, /pass "windowsPE" is not one imagesmith writes/);
  const g = copy(buildAnswerFile(base));
  (g.passes[0]?.components[0] as Component).name = "Microsoft-Windows-Setup";
  refused(g, /generalize\/Microsoft-Windows-Setup: unknown component/);
  const h = copy(buildAnswerFile(base));
  h.passes.push(copy(buildAnswerFile(base)).passes[0] as AnswerFile["passes"][number]);
  refused(h, /pass generalize appears twice/);
});

test("a processorArchitecture that is not amd64, x86 or arm64, or not the image's, is refused", () => {
  const f = copy(buildAnswerFile(base));
  (f.passes[1]?.components[0] as { processorArchitecture: string }).processorArchitecture = "ia64";
  refused(f, /specialize\/Microsoft-Windows-Shell-Setup: processorArchitecture "ia64" is not one of amd64, x86, arm64/);
  const g = copy(buildAnswerFile(base));
  (g.passes[2]?.components[1] as Component).processorArchitecture = "arm64";
  refused(g, /oobeSystem\/Microsoft-Windows-Shell-Setup: processorArchitecture arm64 differs from the image's amd64/);
});

test("an unknown setting, at the top or nested, is refused", () => {
  const f = copy(buildAnswerFile(base));
  component(f, "specialize", "Microsoft-Windows-Shell-Setup").settings.ProductKey = "XXXXX";
  refused(f, /specialize\/Microsoft-Windows-Shell-Setup\/ProductKey: unknown setting/);
  const g = copy(buildAnswerFile(base));
  (component(g, "oobeSystem", "Microsoft-Windows-Shell-Setup").settings.OOBE as SettingGroup).HideEverything = true;
  refused(g, /oobeSystem\/Microsoft-Windows-Shell-Setup\/OOBE\/HideEverything: unknown setting/);
});

test("settings named __proto__ or constructor are refused, not looked up on Object.prototype", () => {
  for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
    const f = copy(buildAnswerFile(base));
    const shell = component(f, "specialize", "Microsoft-Windows-Shell-Setup");
    shell.settings = { ...shell.settings, ...(JSON.parse(`{"${name}": "x"}`) as SettingGroup) };
    assert.ok(Object.hasOwn(shell.settings, name));
    refused(f, new RegExp(`Microsoft-Windows-Shell-Setup/${name}: unknown setting`));
    const g = copy(buildAnswerFile(base));
    const oobe = component(g, "oobeSystem", "Microsoft-Windows-Shell-Setup").settings;
    oobe.OOBE = { ...(oobe.OOBE as SettingGroup), ...(JSON.parse(`{"${name}": true}`) as SettingGroup) };
    refused(g, new RegExp(`OOBE/${name}: unknown setting`));
    const h = copy(buildAnswerFile(base));
    (h.passes[0]?.components[0] as Component).name = name;
    refused(h, new RegExp(`generalize/${name}: unknown component`));
  }
});

test("a 16-character or not NetBIOS-valid computer name is refused", () => {
  assert.throws(() => buildAnswerFile({ ...base, computerName: "ABCDEFGHIJKLMNOP" }), /ComputerName: 16 characters, at most 15/);
  for (const bad of ["12345", "WEB SERVER", "WEB.SERVER", "-WEB", "WEB-", "*", "WEB_1", ""]) {
    assert.throws(() => buildAnswerFile({ ...base, computerName: bad }), (err: unknown) => err instanceof AppError && err.code === "INVALID_ANSWER_FILE", bad);
  }
  buildAnswerFile({ ...base, computerName: "ABCDEFGHIJKLMNO" });
});

test("RunSynchronous Order must number the commands 1..n once each; Path is at most 259 characters", () => {
  const f = copy(buildAnswerFile(base));
  (commands(f)[2] as SettingGroup).Order = 2;
  refused(f, /RunSynchronous\[2\]\/Order: 2 is used twice/);
  const g = copy(buildAnswerFile(base));
  (commands(g)[2] as SettingGroup).Order = 7;
  refused(g, /RunSynchronous\[2\]\/Order: 7 is past the 3 items/);
  const h = copy(buildAnswerFile(base));
  delete (commands(h)[0] as SettingGroup).Path;
  refused(h, /RunSynchronous\[0\]\/Path: required setting missing/);
  const long = `http://${"a".repeat(60)}.example`;
  assert.throws(() => buildAnswerFile({ ...base, metadataUrl: long }), /RunSynchronous\[1\]\/Path: \d+ characters, at most 259/);
});

test("values of the wrong type or outside their range are refused", () => {
  const f = copy(buildAnswerFile(base));
  (component(f, "oobeSystem", "Microsoft-Windows-Shell-Setup").settings.OOBE as SettingGroup).ProtectYourPC = 4;
  refused(f, /OOBE\/ProtectYourPC: 4 is outside 1\.\.3/);
  const g = copy(buildAnswerFile(base));
  (component(g, "oobeSystem", "Microsoft-Windows-Shell-Setup").settings.OOBE as SettingGroup).NetworkLocation = "Public";
  refused(g, /OOBE\/NetworkLocation: expected one of Home, Work, Other/);
  const h = copy(buildAnswerFile(base));
  component(h, "generalize", "Microsoft-Windows-PnpSysprep").settings.PersistAllDeviceInstalls = "true";
  refused(h, /PersistAllDeviceInstalls: expected true or false/);
  assert.throws(() => buildAnswerFile({ ...base, registeredOrganization: "x".repeat(257) }), /RegisteredOrganization: 257 characters, at most 256/);
  assert.throws(() => buildAnswerFile({ ...base, registeredOwner: "a\u0001b" }), /RegisteredOwner: holds a control character/);
  assert.throws(() => buildAnswerFile({ ...base, locale: "en_US" }), /InputLocale: "en_US" is not/);
  assert.throws(() => buildAnswerFile({ ...base, timeZone: "UTC'; rm" }), /TimeZone: .* is not a Windows time zone id/);
});

test("a metadata URL that could break out of the PowerShell string is refused", () => {
  for (const bad of ["http://169.254.169.254/'x", "file:///c:/x", "http://a b", 'http://a"b']) {
    assert.throws(() => buildAnswerFile({ ...base, metadataUrl: bad }), /metadataUrl .* is not a plain http\(s\) URL/, bad);
  }
  assert.match(paths(buildAnswerFile({ ...base, metadataUrl: "http://169.254.169.254/" }))[1] as string, /'http:\/\/169\.254\.169\.254\/imagesmith'/);
});

test("the pass table and the schema name the same components and top-level settings", () => {
  assert.deepEqual(Object.keys(settingPasses).sort(), Object.keys(componentSchema).sort());
  for (const [name, node] of Object.entries(componentSchema)) {
    assert.deepEqual(Object.keys(settingPasses[name] ?? {}).sort(), Object.keys(node.children).sort(), name);
  }
});

test("computerNameFor() makes a 15-character NetBIOS name from the instance id", () => {
  assert.equal(computerNameFor("i-0123456789abcdef0"), "I-456789ABCDEF0");
  assert.equal(computerNameFor("i-00000000000000000"), "I-0000000000000");
  buildAnswerFile({ ...base, computerName: computerNameFor("i-00000000000000000") });
  assert.throws(() => computerNameFor("ami-0123456789abcdef0"), /not an instance id/);
  assert.throws(() => computerNameFor("i-123"), /not an instance id/);
});

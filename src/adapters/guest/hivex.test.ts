import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseExport, valueOf } from "./hivex.ts";
import { parseIas } from "./windows-disk-tools.ts";

const utf16 = (s: string) => [...Buffer.from(`${s}\0`, "utf16le")].map((b) => b.toString(16).padStart(2, "0")).join(",");

describe("parseExport()", () => {
  it("reads hivexregedit's value types: strings as text, dwords and qwords as numbers, the rest as null", () => {
    const text = [
      "Windows Registry Editor Version 5.00",
      "",
      "[HKLM\\Select]",
      '"Current"=dword:00000002',
      `"Name"=hex(1):${utf16("Server")}`,
      `"Path"=hex(2):${utf16("%systemroot%\\x")}`,
      '"Big"=hex(b):01,00,00,00,01,00,00,00',
      '"Blob"=hex(3):4d,3c',
      '"Plain"="a \\"quoted\\" \\\\ value"',
      `@=hex(1):${utf16("default")}`,
      "",
    ].join("\n");
    const key = parseExport(text, "HKLM\\Select").get("");
    assert.deepEqual(Object.fromEntries(key ?? []), {
      Current: 2, Name: "Server", Path: "%systemroot%\\x", Big: 2 ** 32 + 1, Blob: null, Plain: 'a "quoted" \\ value', "": "default",
    });
  });

  it("names subkeys relative to the exported key, unescapes value names and joins continued lines", () => {
    const text = [
      "[HKLM\\MountedDevices]",
      '"\\\\DosDevices\\\\C:"=hex(3):4d,3c,\\',
      "  2b,10",
      "[HKLM\\MountedDevices\\Sub\\Deeper]",
      '"X"=dword:0000000a',
      "[HKLM\\Elsewhere]",
      '"Y"=dword:00000001',
    ].join("\r\n");
    const keys = parseExport(text, "HKLM\\MountedDevices");
    assert.deepEqual([...keys.keys()], ["", "Sub\\Deeper"]);
    assert.deepEqual([...(keys.get("")?.keys() ?? [])], ["\\DosDevices\\C:"]);
    assert.equal(keys.get("Sub\\Deeper")?.get("X"), 10);
  });

  it("finds values by name without case, as Windows does", () => {
    const key = parseExport('[HKLM\\K]\n"Deny_Read"=dword:00000001\n', "HKLM\\K").get("");
    assert.equal(valueOf(key, "deny_read"), 1);
    assert.equal(valueOf(key, "Deny_Read"), 1);
    assert.equal(valueOf(key, "Deny_Write"), undefined);
    assert.equal(valueOf(undefined, "Deny_Read"), undefined);
  });
});

describe("parseIas()", () => {
  const ias = (clients: string, groups: string) =>
    `<?xml version="1.0"?><Root><Children><Microsoft_Internet_Authentication_Service name="x"><Children>` +
    `<Protocols name="Protocols"><Children><Microsoft_Radius_Protocol name="Microsoft Radius Protocol"><Children>` +
    `<Clients name="Clients"><Children>${clients}</Children></Clients></Children></Microsoft_Radius_Protocol></Children></Protocols>` +
    `<RADIUS_Server_Groups name="RADIUS Server Groups"><Children>${groups}</Children></RADIUS_Server_Groups>` +
    `</Children></Microsoft_Internet_Authentication_Service></Children></Root>`;

  it("lists RADIUS clients and remote server groups by their names, also when two share a tag", () => {
    const xml = ias('<A name="Switch 1"/><A name="Switch 2"/><B_C name="AP"><Properties/></B_C>', '<G name="Upstream"/>');
    assert.deepEqual(parseIas(Buffer.from(xml), "d"), { clients: ["Switch 1", "Switch 2", "AP"], remoteServerGroups: ["Upstream"] });
  });

  it("reads UTF-16 files (with a byte order mark) and finds nothing in an NPS without clients", () => {
    const data = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(ias("", ""), "utf16le")]);
    assert.deepEqual(parseIas(data, "d"), { clients: [], remoteServerGroups: [] });
  });

  it("says which disk's ias.xml is not XML", () => {
    assert.throws(() => parseIas(Buffer.from("<Root><Children></Root>"), "disk.qcow2"), /ias\.xml on disk\.qcow2 is not XML/);
  });
});

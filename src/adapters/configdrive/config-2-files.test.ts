import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ConfigDriveContent } from "../../core/ports.ts";
import { buildAnswerFile } from "../../core/unattend.ts";
import { renderAnswerFile } from "../guest/unattend-xml.ts";
import { config2Files, openstackMetaData } from "./config-2-files.ts";

const answerFile = buildAnswerFile({ computerName: "I-456789ABCDEF0", admin: "fetch", metadataUrl: "http://169.254.169.254" });
const windows: ConfigDriveContent = {
  format: "config-2",
  instanceId: "i-0123456789abcdef0",
  hostname: "win-1",
  publicKeys: ["ssh-rsa AAAAB3 k"],
  userData: null,
  password: null,
  macAddress: "52:54:00:ab:cd:ef",
  phoneHomeUrl: null,
  answerFile: null,
};
const byPath = (c: ConfigDriveContent) => new Map(config2Files(c));

describe("config-2 drive files", () => {
  it("meta_data.json holds uuid, hostname, name, public_keys, launch_index and zone, as cloudbase-init reads them", () => {
    const doc: unknown = JSON.parse(byPath(windows).get("openstack/latest/meta_data.json") ?? "");
    assert.deepEqual(doc, {
      uuid: "i-0123456789abcdef0",
      hostname: "win-1",
      name: "win-1",
      public_keys: { "key-1": "ssh-rsa AAAAB3 k" },
      launch_index: 0,
      availability_zone: "nova",
    });
  });

  it("leaves out the hostname when the image keeps its own, and names the server by its id", () => {
    const doc = JSON.parse(byPath({ ...windows, hostname: null, publicKeys: [] }).get("openstack/latest/meta_data.json") ?? "") as Record<string, unknown>;
    assert.equal("hostname" in doc, false);
    assert.equal(doc.name, "i-0123456789abcdef0");
    assert.deepEqual(doc.public_keys, {});
  });

  it("carries user_data byte for byte and only when given, and unattend.xml at the root when set", () => {
    assert.deepEqual([...byPath(windows).keys()], ["openstack/latest/meta_data.json"]);
    const script = "#ps1_sysnative\r\nWrite-Host 'é'\r\n";
    const files = byPath({ ...windows, userData: script, answerFile });
    assert.equal(files.get("openstack/latest/user_data"), script);
    assert.equal(files.get("unattend.xml"), renderAnswerFile(answerFile));
  });

  it("never puts the password hash on the drive", () => {
    const all = config2Files({ ...windows, password: { user: "Administrator", hash: "$6$salt$hash" } }).map(([, t]) => t).join("");
    assert.doesNotMatch(all, /\$6\$|Administrator/);
  });

  it("names the zone the daemon gives, and sorts public_keys by name", () => {
    const text = openstackMetaData({ uuid: "u", hostname: null, publicKeys: { b: "kb", a: "ka" }, userData: null }, "local-1a");
    assert.equal(text, '{"uuid":"u","name":"u","public_keys":{"a":"ka","b":"kb"},"launch_index":0,"availability_zone":"local-1a"}\n');
  });
});

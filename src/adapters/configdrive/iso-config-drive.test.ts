import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { ConfigDriveContent } from "../../core/ports.ts";
import { buildAnswerFile } from "../../core/unattend.ts";
import { renderAnswerFile } from "../guest/unattend-xml.ts";
import { IsoConfigDrive } from "./iso-config-drive.ts";
import { metaData, networkConfig, vendorData } from "./nocloud-files.ts";

const answerFile = buildAnswerFile({ computerName: "I-456789ABCDEF0", admin: "fetch", metadataUrl: "http://169.254.169.254" });
const run = promisify(execFile);
const base: ConfigDriveContent = { format: "nocloud", answerFile: null, instanceId: "i-1", hostname: "web-1", publicKeys: ["ssh-ed25519 AAAA k"], userData: null, password: null, macAddress: "52:54:00:ab:cd:ef", phoneHomeUrl: null };

describe("NoCloud seed files", () => {
  it("meta-data holds instance-id, local-hostname and public-keys, and never a password", () => {
    assert.equal(metaData(base), 'instance-id: i-1\nlocal-hostname: web-1\npublic-keys:\n  - "ssh-ed25519 AAAA k"\n');
    assert.doesNotMatch(metaData({ ...base, password: { user: "debian", hash: "$6$salt$hash" } }), /\$6\$|password/);
  });

  it("leaves out the hostname when the image keeps its own (specialized)", () => {
    assert.equal(metaData({ ...base, hostname: null, publicKeys: [] }), "instance-id: i-1\n");
  });

  it("vendor-data sets the password from its hash with cloud-init's chpasswd, unexpired, and phones home", () => {
    const text = vendorData({ ...base, password: { user: "debian", hash: "$6$salt$hash" }, phoneHomeUrl: "http://10.0.2.100/phone-home/$INSTANCE_ID" });
    assert.equal(text.split("\n")[0], "#cloud-config");
    assert.match(text, /chpasswd:\n {2}expire: false\n {2}users:\n {4}- name: "debian"\n {6}password: "\$6\$salt\$hash"\n {6}type: hash\n/);
    assert.match(text, /ssh_pwauth: true/);
    assert.match(text, /phone_home:\n {2}url: "http:\/\/10\.0\.2\.100\/phone-home\/\$INSTANCE_ID"\n {2}post: \[instance_id, hostname\]/);
  });

  it("vendor-data without a password carries no chpasswd", () => {
    assert.doesNotMatch(vendorData({ ...base, phoneHomeUrl: "http://x/" }), /chpasswd|ssh_pwauth/);
  });

  it("network-config matches the NIC by the MAC imagesmith assigned, not by a name", () => {
    assert.equal(networkConfig(base), 'version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: "52:54:00:ab:cd:ef"\n    set-name: eth0\n    dhcp4: true\n');
  });
});

describe("IsoConfigDrive", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagesmith-iso-test-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The volume label and the files of an ISO, read back with xorriso. */
  async function readBack(iso: string): Promise<{ label: string; files: Map<string, string> }> {
    const out = join(dir, "out");
    await rm(out, { recursive: true, force: true });
    const { stdout } = await run("xorriso", ["-indev", iso, "-pvd_info"], { encoding: "utf8" });
    await run("xorriso", ["-osirrox", "on", "-indev", iso, "-extract", "/", out]);
    const files = new Map<string, string>();
    for (const name of await readdir(out, { recursive: true })) {
      const p = join(out, name);
      if ((await stat(p)).isFile()) files.set(name, await readFile(p, "utf8"));
    }
    return { label: /^Volume Id\s*:\s*(\S+)/m.exec(stdout)?.[1] ?? "", files };
  }

  it("writes a config-2 drive: label config-2, meta_data.json, user_data and unattend.xml", async () => {
    const iso = join(dir, "config-2.iso");
    const userData = "<powershell>\r\nWrite-Host hi\r\n</powershell>\r\n";
    await new IsoConfigDrive().build(iso, { ...base, format: "config-2", userData, answerFile, password: { user: "Administrator", hash: "$6$s$h" } });
    const { label, files } = await readBack(iso);
    assert.equal(label, "config-2");
    assert.deepEqual([...files.keys()].sort(), ["openstack/latest/meta_data.json", "openstack/latest/user_data", "unattend.xml"]);
    assert.equal((JSON.parse(files.get("openstack/latest/meta_data.json") ?? "") as { uuid: string }).uuid, "i-1");
    assert.equal(files.get("openstack/latest/user_data"), userData);
    assert.equal(files.get("unattend.xml"), renderAnswerFile(answerFile));
    await assert.rejects(stat(`${iso}.tmp`), "the temporary file was renamed");
    assert.equal((await stat(iso)).mode & 0o777, 0o600);
  });

  it("writes a NoCloud drive as before: label cidata and its four files", async () => {
    const iso = join(dir, "cidata.iso");
    await new IsoConfigDrive().build(iso, base);
    const { label, files } = await readBack(iso);
    assert.equal(label, "cidata");
    assert.deepEqual([...files.keys()].sort(), ["meta-data", "network-config", "user-data", "vendor-data"]);
    assert.equal(files.get("meta-data"), metaData(base));
  });
});

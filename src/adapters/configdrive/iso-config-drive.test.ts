import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ConfigDriveContent } from "../../core/ports.ts";
import { metaData, networkConfig, vendorData } from "./nocloud-files.ts";

const base: ConfigDriveContent = { instanceId: "i-1", hostname: "web-1", publicKeys: ["ssh-ed25519 AAAA k"], userData: null, password: null, macAddress: "52:54:00:ab:cd:ef", phoneHomeUrl: null };

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

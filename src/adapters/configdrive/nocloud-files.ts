import type { ConfigDriveContent } from "../../core/ports.ts";

// The files of a NoCloud seed (docs/guest-contract.md), in the YAML subset
// cloud-init reads and the tiny guest's agent greps. Scalars we did not write
// ourselves are JSON-quoted (JSON strings are YAML strings).
const q = (s: string) => JSON.stringify(s);

/** meta-data: instance-id, local-hostname, public-keys. */
export function metaData(c: ConfigDriveContent): string {
  const lines = [`instance-id: ${c.instanceId}`];
  if (c.hostname) lines.push(`local-hostname: ${c.hostname}`);
  if (c.publicKeys.length > 0) {
    lines.push("public-keys:");
    for (const k of c.publicKeys) lines.push(`  - ${q(k)}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * vendor-data: the platform's own cloud-config, which cloud-init merges under
 * the user's user-data (a user key of the same name wins). It sets the admin
 * password from its SHA-512 crypt hash (never the plaintext) and asks the
 * guest to phone home once cloud-init has finished: that is how readiness and
 * the password are confirmed.
 */
export function vendorData(c: ConfigDriveContent): string {
  // The hostname resolves (sudo asks), from /etc/hosts that cloud-init rewrites at each boot.
  const lines = ["#cloud-config", "# imagesmith: the platform's settings; user-data overrides them key by key", "manage_etc_hosts: true"];
  if (c.password) {
    lines.push(
      "chpasswd:",
      "  expire: false",
      "  users:",
      `    - name: ${q(c.password.user)}`,
      `      password: ${q(c.password.hash)}`,
      "      type: hash",
      "ssh_pwauth: true",
    );
  }
  if (c.phoneHomeUrl) {
    lines.push("phone_home:", `  url: ${q(c.phoneHomeUrl)}`, "  post: [instance_id, hostname]", "  tries: 30");
  }
  return `${lines.join("\n")}\n`;
}

/** network-config v2: DHCP on the NIC with the MAC imagesmith assigned, whatever the guest calls it. */
export function networkConfig(c: ConfigDriveContent): string {
  return ["version: 2", "ethernets:", "  eth0:", "    match:", `      macaddress: ${q(c.macAddress)}`, "    set-name: eth0", "    dhcp4: true", ""].join("\n");
}

import { execFile } from "node:child_process";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ConfigDrive, ConfigDriveContent } from "../../core/ports.ts";

const run = promisify(execFile);

/** NoCloud meta-data in the YAML subset cloud-init and our guest agent read. */
export function metaData(c: ConfigDriveContent): string {
  const lines = [`instance-id: ${c.instanceId}`];
  if (c.hostname) lines.push(`local-hostname: ${c.hostname}`);
  if (c.password) {
    // A hash, as cloud-init's chpasswd takes: the plaintext never reaches the drive.
    lines.push(`admin-user: ${c.password.user}`, `admin-password-hash: ${c.password.hash}`);
  }
  if (c.publicKeys.length > 0) {
    lines.push("public-keys:");
    for (const k of c.publicKeys) lines.push(`  - ${k}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Builds the config drive ISO (label cidata) with xorriso. */
export class IsoConfigDrive implements ConfigDrive {
  async build(path: string, content: ConfigDriveContent): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-cidata-"));
    try {
      await writeFile(join(dir, "meta-data"), metaData(content), { mode: 0o600 });
      await writeFile(join(dir, "user-data"), content.userData ?? "#cloud-config\n", { mode: 0o600 });
      await writeFile(join(dir, "network-config"), "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n", {
        mode: 0o600,
      });
      const tmp = `${path}.tmp`;
      await run("xorriso", ["-as", "mkisofs", "-quiet", "-V", "cidata", "-J", "-r", "-o", tmp, dir]);
      await rename(tmp, path);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

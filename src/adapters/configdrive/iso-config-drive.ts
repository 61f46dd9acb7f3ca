import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { openstackDefaultZone } from "../../core/guest-contract.ts";
import type { ConfigDrive, ConfigDriveContent } from "../../core/ports.ts";
import { config2Files } from "./config-2-files.ts";
import { metaData, networkConfig, vendorData } from "./nocloud-files.ts";

const run = promisify(execFile);

function noCloudFiles(content: ConfigDriveContent): [string, string][] {
  return [
    ["meta-data", metaData(content)],
    // The user's own, byte for byte: cloud-config, a script or multipart.
    ["user-data", content.userData ?? "#cloud-config\n"],
    ["vendor-data", vendorData(content)],
    ["network-config", networkConfig(content)],
  ];
}

/** Builds the config drive ISO with xorriso: NoCloud (label cidata) or OpenStack (label config-2). */
export class IsoConfigDrive implements ConfigDrive {
  constructor(private readonly options: { availabilityZone?: string } = {}) {}

  async build(path: string, content: ConfigDriveContent): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-configdrive-"));
    try {
      const config2 = content.format === "config-2";
      const files = config2 ? config2Files(content, this.options.availabilityZone ?? openstackDefaultZone) : noCloudFiles(content);
      for (const [name, text] of files) {
        await mkdir(dirname(join(dir, name)), { recursive: true, mode: 0o700 });
        await writeFile(join(dir, name), text, { mode: 0o600 });
      }
      const tmp = `${path}.tmp`;
      await run("xorriso", ["-as", "mkisofs", "-quiet", "-V", config2 ? "config-2" : "cidata", "-J", "-r", "-o", tmp, dir]);
      // The drive may hold an answer file with the admin password: readable by the daemon (and its QEMU) only.
      await chmod(tmp, 0o600);
      await rename(tmp, path);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

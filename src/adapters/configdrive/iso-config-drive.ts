import { execFile } from "node:child_process";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ConfigDrive, ConfigDriveContent } from "../../core/ports.ts";
import { metaData, networkConfig, vendorData } from "./nocloud-files.ts";

const run = promisify(execFile);

/** Builds the NoCloud config drive ISO (label cidata) with xorriso. */
export class IsoConfigDrive implements ConfigDrive {
  async build(path: string, content: ConfigDriveContent): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-cidata-"));
    try {
      const files: [string, string][] = [
        ["meta-data", metaData(content)],
        // The user's own, byte for byte: cloud-config, a script or multipart.
        ["user-data", content.userData ?? "#cloud-config\n"],
        ["vendor-data", vendorData(content)],
        ["network-config", networkConfig(content)],
      ];
      for (const [name, text] of files) await writeFile(join(dir, name), text, { mode: 0o600 });
      const tmp = `${path}.tmp`;
      await run("xorriso", ["-as", "mkisofs", "-quiet", "-V", "cidata", "-J", "-r", "-o", tmp, dir]);
      await rename(tmp, path);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

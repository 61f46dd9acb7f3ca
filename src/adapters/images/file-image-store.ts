import { chmod, mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { ImageId } from "../../core/ids.ts";
import type { DiskInfo, ImageStore } from "../../core/ports.ts";
import { convertDisk, createOverlay, inspectDisk } from "./qemu-img.ts";

/**
 * Keeps each image as one read-only qcow2 file in the data dir; instance
 * boot volumes are overlays on it.
 */
export class FileImageStore implements ImageStore {
  constructor(private readonly dir: string) {}

  private basePath(id: ImageId): string {
    return join(this.dir, `${id}.qcow2`);
  }

  inspect(file: string): Promise<DiskInfo> {
    return inspectDisk(file);
  }

  async importDisk(id: ImageId, file: string, onProgress: (pct: number) => void): Promise<DiskInfo> {
    const info = await inspectDisk(file);
    await mkdir(this.dir, { recursive: true });
    const tmp = `${this.basePath(id)}.part`;
    await convertDisk({ from: file, fromFormat: info.format, to: tmp, toFormat: "qcow2" }, onProgress);
    await chmod(tmp, 0o444);
    await rename(tmp, this.basePath(id));
    return info;
  }

  async createOverlay(id: ImageId, path: string): Promise<void> {
    await createOverlay(this.basePath(id), path);
  }

  async remove(id: ImageId): Promise<void> {
    await rm(this.basePath(id), { force: true });
    await rm(`${this.basePath(id)}.part`, { force: true });
  }
}

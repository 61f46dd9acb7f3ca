import { rm } from "node:fs/promises";
import { badRequest, conflict, notFound } from "../core/errors.ts";
import { newId, type ImageId } from "../core/ids.ts";
import type { Image, Operation, OsState, OsType, Tags } from "../core/types.ts";
import type { ServiceContext } from "./context.ts";
import type { Operations } from "./operations.ts";

export interface ImportImageRequest {
  name: string;
  description?: string;
  osType: OsType;
  osState?: OsState;
  defaultUser?: string;
  tags?: Tags;
  /** The uploaded disk file; this service owns it from here on and removes it. */
  file: string;
}

export interface ImageFilter {
  state?: string;
  name?: string;
  osState?: string;
}

export class Images {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly ops: Operations,
  ) {}

  get(id: string): Image {
    const image = this.ctx.catalog.images.get(id);
    if (!image) throw notFound("IMAGE_NOT_FOUND", `Image ${id} does not exist`);
    return image;
  }

  list(filter: ImageFilter = {}): Image[] {
    return this.ctx.catalog.images
      .list()
      .filter((i) => (filter.state ? i.state === filter.state : i.state !== "deregistered"))
      .filter((i) => !filter.name || i.name === filter.name)
      .filter((i) => !filter.osState || i.osState === filter.osState);
  }

  /** An image that can be launched now, or a 409 that says why not. */
  launchable(id: string): Image {
    const image = this.get(id);
    if (image.state !== "available") {
      const why = image.state === "pending" ? "it is still pending; wait for it to become available" : `it is ${image.state}`;
      throw conflict("IMAGE_NOT_AVAILABLE", `Cannot launch image ${id}: ${why}${image.stateReason ? ` (${image.stateReason})` : ""}`);
    }
    return image;
  }

  /**
   * Checks the uploaded disk, then registers a pending image and converts the
   * disk in the background. A disk that cannot be read leaves nothing behind.
   */
  async import(req: ImportImageRequest): Promise<{ image: Image; operation: Operation }> {
    try {
      if (this.ctx.catalog.images.list().some((i) => i.name === req.name && i.state !== "deregistered")) {
        throw conflict("IMAGE_NAME_EXISTS", `An image named ${req.name} already exists`);
      }
      const info = await this.ctx.imageStore.inspect(req.file);
      if (info.virtualSize <= 0) throw badRequest("INVALID_DISK_IMAGE", "The disk file is empty");
      const image: Image = {
        id: newId<ImageId>("image"),
        name: req.name,
        description: req.description ?? "",
        state: "pending",
        stateReason: null,
        osType: req.osType,
        osState: req.osState ?? "generalized",
        architecture: "x86_64",
        rootDeviceName: "/dev/vda",
        defaultUser: req.defaultUser ?? (req.osType === "windows" ? "Administrator" : "root"),
        virtualSize: info.virtualSize,
        sourceFormat: info.format,
        tags: req.tags ?? {},
        createdAt: new Date().toISOString(),
      };
      const operation = this.ctx.catalog.transaction(() => {
        this.ctx.catalog.images.insert(image);
        return this.ops.create("image-import", image.id, `Importing ${info.format} disk as ${image.id}`);
      });
      void this.runImport(image, req.file, operation.id);
      return { image, operation };
    } catch (err) {
      await rm(req.file, { force: true });
      throw err;
    }
  }

  private async runImport(image: Image, file: string, opId: string): Promise<void> {
    try {
      await this.ctx.imageStore.importDisk(image.id, file, (pct) => this.ops.progress(opId, pct));
      this.setState(image.id, "available", null);
      this.ops.succeed(opId, `Image ${image.id} is available`);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.ctx.log.error({ imageId: image.id, err: reason }, "image import failed");
      await this.ctx.imageStore.remove(image.id);
      this.setState(image.id, "failed", reason);
      this.ops.fail(opId, err);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** After a restart: imports that were under way cannot resume from a temp upload. */
  async recover(): Promise<void> {
    for (const image of this.ctx.catalog.images.list().filter((i) => i.state === "pending")) {
      await this.ctx.imageStore.remove(image.id);
      this.setState(image.id, "failed", "The daemon stopped while the image was being imported");
    }
    for (const op of this.ops.list().filter((o) => o.state === "running")) {
      this.ops.fail(op.id, new Error("The daemon stopped while the operation was running"));
    }
  }

  private setState(id: ImageId, state: Image["state"], reason: string | null): void {
    const image = this.get(id);
    this.ctx.catalog.images.update({ ...image, state, stateReason: reason });
  }
}

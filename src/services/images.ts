import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { inspectDisk, convertDisk } from "../adapters/images/qemu-img.ts";
import { mapExtents } from "../adapters/images/disk-layers.ts";
import { extractOva } from "../adapters/images/ova.ts";
import { ensureFreeSpace } from "./free-space.ts";
import { publicMessage } from "../core/public-message.ts";
import { runDetached } from "./background.ts";
import { conflict, gone, notFound } from "../core/errors.ts";
import { checkDescription, checkImageName } from "../core/input-rules.ts";
import { repeatedCall } from "./client-tokens.ts";
import { newId, type ImageId } from "../core/ids.ts";
import { checkTags, userTags, withTags } from "../core/tag-rules.ts";
import type { Image, Operation, OsState, OsType, Tags } from "../core/types.ts";
import { matchesTags, matchesWildcard } from "./filters.ts";
import { paths, type ServiceContext } from "./context.ts";
import type { Operations } from "./operations.ts";
import type { Snapshots } from "./snapshots.ts";

export const exportFormats = {
  raw: { ext: "raw", args: ["-O", "raw"] },
  qcow2: { ext: "qcow2", args: ["-O", "qcow2"] },
  // Fixed-size VHD, as Azure requires; force_size keeps the exact virtual size.
  vhd: { ext: "vhd", args: ["-O", "vpc", "-o", "subformat=fixed,force_size=on"] },
  vmdk: { ext: "vmdk", args: ["-O", "vmdk", "-o", "subformat=streamOptimized"] },
  vdi: { ext: "vdi", args: ["-O", "vdi"] },
} as const;
export type ExportFormat = keyof typeof exportFormats;

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

export interface CopyImageRequest {
  name: string;
  /** The source's description when not given. */
  description?: string;
  tags?: Tags;
  /** Take the source's tags too (EC2 CopyImageTags); tags given here win over them. */
  copyTags?: boolean;
  /** EC2's ClientToken: a copy repeated with it returns the first copy. */
  clientToken?: string;
}

export interface ImageFilter {
  state?: string;
  /** Wildcards: * and ? */
  name?: string;
  osState?: string;
  tags?: Tags;
  sourceInstanceId?: string;
}

export interface DeregisterResult {
  image: Image;
  deletedSnapshots: string[];
  keptSnapshots: { id: string; reason: string }[];
}

/** A new image record: what every image starts with, and the fields that differ; its tags must be ones a user may set. */
export function imageRecord(fields: Pick<Image, "name" | "osType" | "osState" | "state" | "virtualSize" | "blockDeviceMappings"> & Partial<Image>): Image {
  checkTags(fields.tags ?? {});
  return {
    id: newId<ImageId>("image"),
    description: "",
    stateReason: null,
    architecture: "x86_64",
    rootDeviceName: "/dev/vda",
    defaultUser: fields.osType === "windows" ? "Administrator" : "root",
    sourceFormat: null,
    sourceInstanceId: null,
    consistency: null,
    tags: {},
    createdAt: new Date().toISOString(),
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
  } as Image;
}

/**
 * The largest upload a host takes: a disk file of the largest virtual size,
 * with room for its format's metadata (a fully allocated qcow2 carries about
 * 0.1 % in tables, a streamOptimized VMDK's grain markers less).
 */
export function maxUploadBytes(maxVolumeSize: number): number {
  return Math.floor(maxVolumeSize * 1.02) + 64 * 1024 * 1024;
}

export class Images {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly ops: Operations,
    private readonly snapshots: Snapshots,
  ) {}

  get(id: string): Image {
    const image = this.ctx.catalog.images.get(id);
    if (!image) throw notFound("IMAGE_NOT_FOUND", `Image ${id} does not exist`);
    return image;
  }

  /** The image, or undefined: for lookups that report missing ids together (EC2). */
  find(id: string): Image | undefined {
    return this.ctx.catalog.images.get(id);
  }

  list(filter: ImageFilter = {}): Image[] {
    return this.ctx.catalog.images
      .list()
      .filter((i) => (filter.state ? i.state === filter.state : i.state !== "deregistered"))
      .filter((i) => !filter.name || matchesWildcard(filter.name, i.name))
      .filter((i) => !filter.osState || i.osState === filter.osState)
      .filter((i) => !filter.sourceInstanceId || i.sourceInstanceId === filter.sourceInstanceId)
      .filter((i) => matchesTags(i.tags, filter.tags));
  }

  /** EC2 RegisterImage: an image whose root disk is an existing completed snapshot (which it then shares). */
  register(req: { name: string; snapshotId: string; osType: OsType; osState: OsState; description?: string; defaultUser?: string; tags?: Tags }): Image {
    const snap = this.snapshots.get(req.snapshotId);
    if (snap.state !== "completed") throw conflict("SNAPSHOT_NOT_COMPLETED", `Cannot register an image from snapshot ${snap.id}: it is ${snap.state}`);
    const image = imageRecord({
      name: req.name,
      description: req.description,
      state: "available",
      osType: req.osType,
      osState: req.osState,
      defaultUser: req.defaultUser,
      virtualSize: snap.volumeSize,
      blockDeviceMappings: [{ deviceName: "/dev/vda", snapshotId: snap.id, volumeSize: snap.volumeSize, deleteOnTermination: true }],
      consistency: snap.consistency,
      tags: req.tags,
    });
    this.ctx.catalog.transaction(() => {
      this.checkNameFree(req.name, req.description);
      this.ctx.catalog.images.insert(image);
    });
    return image;
  }

  /**
   * EC2 CopyImage: a new image, available at once, on the same snapshots as
   * the source (the chunk store holds each block once, so a copy costs no
   * storage), with the same metadata under a new name. The snapshots stay
   * while either image uses them (deregister keeps what another image uses).
   */
  copy(sourceId: string, req: CopyImageRequest): Image {
    // All in one transaction: the source cannot be deregistered, nor the name taken, between the checks and the insert.
    return this.ctx.catalog.transaction(() => {
      const again = repeatedCall(this.ctx.catalog.images.list(), req.clientToken, (i) => i.name === req.name && i.blockDeviceMappings[0]?.snapshotId === this.get(sourceId).blockDeviceMappings[0]?.snapshotId, "image copy");
      if (again) return again;
      const source = this.launchable(sourceId, "copy");
      this.checkNameFree(req.name, req.description);
      const copy = imageRecord({
        name: req.name,
        description: req.description ?? source.description,
        state: "available",
        osType: source.osType,
        osState: source.osState,
        architecture: source.architecture,
        rootDeviceName: source.rootDeviceName,
        defaultUser: source.defaultUser,
        virtualSize: source.virtualSize,
        sourceFormat: source.sourceFormat,
        blockDeviceMappings: source.blockDeviceMappings.map((m) => ({ ...m })),
        sourceInstanceId: source.sourceInstanceId,
        sourceMacAddress: source.sourceMacAddress,
        consistency: source.consistency,
        windows: source.windows,
        generalizations: source.generalizations,
        imageType: source.imageType,
        tags: withTags(req.copyTags ? userTags(source.tags) : {}, req.tags ?? {}),
        clientToken: req.clientToken ?? null,
      });
      this.ctx.catalog.images.insert(copy);
      return copy;
    });
  }

  /** A new image's name is well formed and free, and its description within bounds. */
  checkNameFree(name: string, description?: string): void {
    checkImageName(name);
    checkDescription(description);
    if (this.ctx.catalog.images.findBy("name", name).some((i) => i.state !== "deregistered")) {
      throw conflict("IMAGE_NAME_EXISTS", `An image named ${name} already exists`);
    }
  }

  /**
   * Deregisters an image: it stays listable with state=deregistered and can no
   * longer be launched. With deleteSnapshots, its snapshots go too, except
   * those another image or a volume still uses, which are kept and say why.
   */
  async deregister(id: string, deleteSnapshots: boolean): Promise<DeregisterResult> {
    const image = this.get(id);
    if (image.state === "deregistered") throw conflict("IMAGE_DEREGISTERED", `Image ${id} is already deregistered`);
    if (image.state === "pending") throw conflict("IMAGE_PENDING", `Cannot deregister image ${id} while it is pending`);
    const updated: Image = { ...image, state: "deregistered", stateReason: "Deregistered by the user" };
    this.ctx.catalog.images.update(updated);
    const result: DeregisterResult = { image: updated, deletedSnapshots: [], keptSnapshots: [] };
    if (!deleteSnapshots) return result;
    for (const m of image.blockDeviceMappings) {
      try {
        await this.snapshots.delete(m.snapshotId);
        result.deletedSnapshots.push(m.snapshotId);
      } catch (err) {
        result.keptSnapshots.push({ id: m.snapshotId, reason: (err as Error).message });
      }
    }
    return result;
  }

  /** An image that can be launched (or copied, or exported) now, or a 409 that says why not. */
  launchable(id: string, action: "launch" | "copy" | "export" = "launch"): Image {
    const image = this.get(id);
    if (image.state !== "available") {
      const why = image.state === "pending" ? "it is still pending; wait for it to become available" : `it is ${image.state}`;
      throw conflict("IMAGE_NOT_AVAILABLE", `Cannot ${action} image ${id}: ${why}${image.stateReason ? ` (${image.stateReason})` : ""}`);
    }
    return image;
  }

  /**
   * Checks the uploaded disk, then registers a pending image and its pending
   * snapshot and captures the disk into the chunk store in the background.
   * A disk that cannot be read leaves nothing behind.
   */
  async import(req: ImportImageRequest): Promise<{ image: Image; operation: Operation }> {
    let disk = req.file;
    const { maxVolumeSize, dataDir } = this.ctx.settings;
    try {
      this.checkNameFree(req.name, req.description); // early: before the disk is read at all
      checkTags(req.tags ?? {});
      disk = (await extractOva(req.file, { maxBytes: maxUploadBytes(maxVolumeSize) })) ?? req.file;
      const info = await inspectDisk(disk, { maxVirtualSize: maxVolumeSize });
      // What expanding it will write (a compressed qcow2 may hold far more than its size).
      const dataBytes = (await mapExtents(disk, info.format)).filter((e) => e.data).reduce((n, e) => n + e.length, 0);
      await ensureFreeSpace(paths.uploads(dataDir), dataBytes, "Importing this disk");
      const imageId = newId<ImageId>("image");
      const snap = this.snapshots.draft({ volumeId: null, parentId: null, volumeSize: info.virtualSize, description: `Root disk of ${imageId}` });
      const image = imageRecord({
        id: imageId,
        name: req.name,
        description: req.description,
        state: "pending",
        osType: req.osType,
        osState: req.osState ?? "generalized",
        defaultUser: req.defaultUser,
        virtualSize: info.virtualSize,
        sourceFormat: disk === req.file ? info.format : `ova/${info.format}`,
        blockDeviceMappings: [{ deviceName: "/dev/vda", snapshotId: snap.id, volumeSize: info.virtualSize, deleteOnTermination: true }],
        consistency: "clean",
        generalizations: 0,
        imageType: req.osType === "windows" && (req.osState ?? "generalized") === "generalized" ? "general" : null,
        tags: req.tags,
      });
      const operation = this.ctx.catalog.transaction(() => {
        // Again with the insert: two imports of one name racing past the awaits cannot both pass.
        this.checkNameFree(req.name, req.description);
        this.ctx.catalog.snapshots.insert(snap);
        this.ctx.catalog.images.insert(image);
        return this.ops.create("image-import", image.id, `Importing ${image.sourceFormat} disk as ${image.id}`);
      });
      runDetached(this.ctx.log, `import of ${image.id}`, this.runImport(image, { file: disk, format: info.format, cleanup: [req.file, disk] }, operation.id));
      return { image, operation };
    } catch (err) {
      await rm(req.file, { force: true });
      if (disk !== req.file) await rm(disk, { force: true });
      const detail = (err as { detail?: unknown }).detail;
      if (detail) this.ctx.log.warn({ detail }, "an uploaded disk was refused");
      throw err;
    }
  }

  private async runImport(image: Image, source: { file: string; format: string; cleanup: string[] }, opId: string): Promise<void> {
    const root = image.blockDeviceMappings[0];
    try {
      if (!root) throw new Error("image has no root device mapping");
      const snap = this.snapshots.get(root.snapshotId);
      if (image.osType === "windows") {
        this.ops.progress(opId, 0, "Inspecting the Windows disk offline (libguestfs)");
        await this.recordWindows(image.id, { file: source.file, format: source.format });
      }
      await this.snapshots.capture(snap, { file: source.file, format: source.format, parentId: null }, (pct) => this.ops.progress(opId, pct));
      this.setState(image.id, "available", null);
      this.ops.succeed(opId, `Image ${image.id} is available`);
    } catch (err) {
      this.ctx.log.error({ imageId: image.id, err: err instanceof Error ? err.message : String(err), detail: (err as { detail?: unknown }).detail }, "image import failed");
      this.setState(image.id, "failed", publicMessage(err));
      this.ops.fail(opId, err);
    } finally {
      for (const f of source.cleanup) await rm(f, { force: true });
    }
  }

  /**
   * What libguestfs inspection finds on a Windows disk goes on the image. A disk it
   * cannot read (BitLocker, say) is still imported, with nothing recorded: the
   * preflight says why.
   */
  async recordWindows(id: string, disk: { file: string; format: string }): Promise<void> {
    const found = await this.ctx.windowsTools.inspect([disk]).then(
      ([r]) => r?.windows ?? null,
      (err: unknown) => {
        this.ctx.log.warn({ imageId: id, err: err instanceof Error ? err.message : String(err) }, "Windows inspection failed");
        return null;
      },
    );
    this.ctx.catalog.images.update({ ...this.get(id), windows: found });
  }

  /** Writes the image's root disk in a standard format; download it with exportFile(). */
  export(id: string, format: ExportFormat): Operation {
    const image = this.launchable(id, "export");
    const root = image.blockDeviceMappings[0];
    if (!root) throw conflict("IMAGE_HAS_NO_DISK", `Image ${id} has no root disk`);
    const op = this.ops.create("image-export", image.id, `Exporting ${image.id} as ${format}`);
    this.ops.runInBackground(op.id, async () => {
      const dir = paths.exports(this.ctx.settings.dataDir);
      const file = `${op.id}.${exportFormats[format].ext}`;
      const out = join(dir, file);
      try {
        await mkdir(dir, { recursive: true });
        // The base stays in the host cache while it is converted (no volume holds it).
        await this.snapshots.withBase(root.snapshotId, (p) => this.ops.progress(op.id, p * 0.5), (base) =>
          convertDisk({ from: base, fromFormat: "qcow2", to: `${out}.part`, toFormat: "", extra: [...exportFormats[format].args] }, (p) =>
            this.ops.progress(op.id, 50 + p / 2),
          ),
        );
        await rename(`${out}.part`, out);
        return { message: `Exported ${image.id} as ${format}`, result: { format, size: (await stat(out)).size, file } };
      } catch (err) {
        await rm(`${out}.part`, { force: true });
        throw err;
      }
    });
    return op;
  }

  /** The finished export file of an operation, while it is there. */
  async exportFile(opId: string): Promise<{ path: string; size: number }> {
    const op = this.ops.get(opId);
    if (op.kind !== "image-export" || op.state !== "succeeded" || typeof op.result?.file !== "string") {
      throw conflict("EXPORT_NOT_READY", `Operation ${opId} has no finished export to download`);
    }
    const path = join(paths.exports(this.ctx.settings.dataDir), op.result.file);
    const size = await stat(path).then((s) => s.size, () => undefined);
    if (size === undefined) {
      const minutes = Math.round(this.ctx.settings.exportTtlMs / 60_000);
      throw gone("EXPORT_EXPIRED", `The export of operation ${opId} is gone: an export is removed once downloaded, or ${minutes} minutes after it was written; export the image again`);
    }
    return { path, size };
  }

  /** After a restart: imports and captures that were under way cannot resume from their temp copies. */
  async recover(): Promise<void> {
    for (const image of this.ctx.catalog.images.list().filter((i) => i.state === "pending")) {
      const what = image.sourceInstanceId ? `created from instance ${image.sourceInstanceId}` : "imported";
      this.setState(image.id, "failed", `The daemon stopped while the image was being ${what}`);
    }
    await rm(paths.uploads(this.ctx.settings.dataDir), { recursive: true, force: true });
    await mkdir(paths.uploads(this.ctx.settings.dataDir), { recursive: true });
  }

  private setState(id: ImageId, state: Image["state"], reason: string | null): void {
    const image = this.get(id);
    this.ctx.catalog.images.update({ ...image, state, stateReason: reason });
  }
}

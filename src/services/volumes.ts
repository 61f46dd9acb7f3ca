import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { createOverlay, createEmptyDisk } from "../adapters/images/qemu-img.ts";
import { badRequest, conflict, notFound } from "../core/errors.ts";
import { publicMessage } from "../core/public-message.ts";
import { newId, type InstanceId, type SnapshotId, type VolumeId } from "../core/ids.ts";
import { checkTags } from "../core/tag-rules.ts";
import type { Operation, Snapshot, Tags, Volume } from "../core/types.ts";
import { repeatedCall } from "./client-tokens.ts";
import { paths, type ServiceContext } from "./context.ts";
import type { Operations } from "./operations.ts";
import type { CaptureSource, Snapshots } from "./snapshots.ts";
import type { VmRegistry } from "./vm-registry.ts";

const GiB = 1024 ** 3;

export interface NewVolume {
  sizeGiB?: number;
  snapshotId?: string;
  kind?: Volume["kind"];
  instanceId?: InstanceId | null;
  deleteOnTermination?: boolean;
  tags?: Tags;
  /** EC2's ClientToken (standalone volumes): a create repeated with it returns the first volume. */
  clientToken?: string;
}

export class Volumes {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly ops: Operations,
    private readonly snapshots: Snapshots,
    private readonly vms: VmRegistry,
  ) {}

  get(id: string): Volume {
    const v = this.ctx.catalog.volumes.get(id);
    if (!v) throw notFound("VOLUME_NOT_FOUND", `Volume ${id} does not exist`);
    return v;
  }

  list(filter: { instanceId?: string; state?: string } = {}): Volume[] {
    return this.ctx.catalog.volumes
      .list()
      .filter((v) => !filter.instanceId || v.instanceId === filter.instanceId)
      .filter((v) => !filter.state || v.state === filter.state);
  }

  /** A volume record (state creating), not yet in the catalog; makeFile() creates its disk. */
  draft(req: NewVolume): Volume {
    checkTags(req.tags ?? {});
    let size: number;
    let baseSnapshotId: SnapshotId | null = null;
    if (req.snapshotId) {
      const snap = this.snapshots.get(req.snapshotId);
      if (snap.state !== "completed") throw conflict("SNAPSHOT_NOT_COMPLETED", `Cannot create a volume from snapshot ${snap.id}: it is ${snap.state}`);
      baseSnapshotId = snap.id;
      size = snap.volumeSize;
    } else if (req.sizeGiB) {
      size = req.sizeGiB * GiB;
      const max = this.ctx.settings.maxVolumeSize;
      if (size > max) throw badRequest("VOLUME_TOO_LARGE", `Cannot create a volume of ${req.sizeGiB} GiB: the limit on this host is ${Math.floor(max / GiB)} GiB`);
    } else {
      throw badRequest("VOLUME_SIZE_REQUIRED", "A volume needs a size or a snapshot to start from");
    }
    const id = newId<VolumeId>("volume");
    return {
      id,
      state: "creating",
      stateReason: null,
      kind: req.kind ?? "data",
      instanceId: req.instanceId ?? null,
      baseSnapshotId,
      size,
      deleteOnTermination: req.deleteOnTermination ?? false,
      path: paths.volume(this.ctx.settings.dataDir, id),
      tags: req.tags ?? {},
      createdAt: new Date().toISOString(),
    };
  }

  /** Creates the volume's qcow2: an overlay on its snapshot's cached base, or an empty disk. */
  async makeFile(volume: Volume): Promise<Volume> {
    await mkdir(dirname(volume.path), { recursive: true });
    if (volume.baseSnapshotId) await createOverlay(await this.snapshots.materialize(volume.baseSnapshotId), volume.path);
    else await createEmptyDisk(volume.path, volume.size);
    const current = this.ctx.catalog.volumes.get(volume.id);
    if (!current) {
      // Deleted while its disk was being made (its instance was terminated): leave no file behind.
      await rm(volume.path, { force: true });
      throw new Error(`Volume ${volume.id} was deleted while it was being created`);
    }
    const ready: Volume = { ...current, state: volume.instanceId ? "in-use" : "available" };
    this.ctx.catalog.volumes.update(ready);
    return ready;
  }

  async create(req: NewVolume): Promise<Volume> {
    const same = (v: Volume) => v.baseSnapshotId === (req.snapshotId ?? null) && (req.snapshotId !== undefined || v.size === (req.sizeGiB ?? 0) * GiB);
    const { volume, again } = this.ctx.catalog.transaction(() => {
      const earlier = repeatedCall(this.ctx.catalog.volumes.list(), req.clientToken, same, "volume");
      if (earlier) return { volume: earlier, again: true };
      const fresh = { ...this.draft({ ...req, instanceId: null }), clientToken: req.clientToken ?? null };
      this.ctx.catalog.volumes.insert(fresh);
      return { volume: fresh, again: false };
    });
    if (again) return volume;
    try {
      return await this.makeFile(volume);
    } catch (err) {
      this.ctx.catalog.volumes.update({ ...volume, state: "error", stateReason: publicMessage(err) });
      throw err;
    }
  }

  /**
   * After a restart: a standalone volume left creating has a partial disk at
   * best; it fails with a reason and its file goes. Volumes of instances are
   * left to Instances.recover, with their instance.
   */
  async recover(): Promise<void> {
    for (const v of this.ctx.catalog.volumes.list().filter((x) => x.state === "creating" && x.instanceId === null)) {
      await this.failUnfinished(v, "The daemon stopped while the volume was being created");
    }
  }

  /** A volume whose disk was never finished: its partial file goes, and it is in error with the reason. */
  async failUnfinished(v: Volume, reason: string): Promise<void> {
    await rm(v.path, { force: true });
    this.ctx.catalog.volumes.update({ ...v, state: "error", stateReason: reason });
  }

  async delete(id: string): Promise<void> {
    const v = this.get(id);
    if (v.state === "in-use") throw conflict("VOLUME_IN_USE", `Cannot delete volume ${id}: it is attached to ${v.instanceId}`);
    await rm(v.path, { force: true });
    this.ctx.catalog.volumes.delete(id);
  }

  attach(id: string, instanceId: string): Volume {
    const v = this.get(id);
    const inst = this.ctx.catalog.instances.get(instanceId);
    if (!inst) throw notFound("INSTANCE_NOT_FOUND", `Instance ${instanceId} does not exist`);
    if (v.state !== "available") throw conflict("VOLUME_NOT_AVAILABLE", `Cannot attach volume ${id}: it is ${v.state}`);
    if (inst.state !== "stopped" && inst.state !== "deallocated") {
      throw conflict("INVALID_INSTANCE_STATE", `Cannot attach volume ${id} to instance ${instanceId}: it is ${inst.state}; stop it first`);
    }
    const attached: Volume = { ...v, state: "in-use", instanceId: inst.id };
    this.ctx.catalog.volumes.update(attached);
    return attached;
  }

  detach(id: string): Volume {
    const v = this.get(id);
    if (v.state !== "in-use" || !v.instanceId) throw conflict("VOLUME_NOT_ATTACHED", `Volume ${id} is not attached`);
    if (v.kind === "boot") throw conflict("BOOT_VOLUME", `Cannot detach volume ${id}: it is the boot volume of ${v.instanceId}`);
    const inst = this.ctx.catalog.instances.get(v.instanceId);
    if (inst && inst.state !== "stopped" && inst.state !== "deallocated" && inst.state !== "terminated") {
      throw conflict("INVALID_INSTANCE_STATE", `Cannot detach volume ${id} from instance ${inst.id}: it is ${inst.state}; stop it first`);
    }
    const detached: Volume = { ...v, state: "available", instanceId: null };
    this.ctx.catalog.volumes.update(detached);
    return detached;
  }

  /**
   * Snapshots a volume, of a running instance too (the VM is paused while its
   * changed blocks are read). An overlay costs only what it holds.
   */
  snapshot(volumeId: string, req: { description?: string; tags?: Tags }): { snapshot: Snapshot; operation: Operation } {
    const v = this.get(volumeId);
    if (v.state !== "available" && v.state !== "in-use") throw conflict("VOLUME_NOT_AVAILABLE", `Cannot snapshot volume ${v.id}: it is ${v.state}`);
    const snap = this.snapshots.draft({ volumeId: v.id, parentId: v.baseSnapshotId, volumeSize: v.size, description: req.description, tags: req.tags });
    const operation = this.ctx.catalog.transaction(() => {
      this.ctx.catalog.snapshots.insert(snap);
      return this.ops.create("snapshot-create", snap.id, `Snapshotting ${v.id}`);
    });
    this.ops.runInBackground(operation.id, async () => {
      const source: CaptureSource = { file: v.path, format: "qcow2", parentId: v.baseSnapshotId, freeze: (read) => this.vms.freeze(v.instanceId, read) };
      const done = await this.snapshots.capture(snap, source, (p) => this.ops.progress(operation.id, p));
      return { message: `Snapshot ${done.id} completed` };
    });
    return { snapshot: snap, operation };
  }
}

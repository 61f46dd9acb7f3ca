import { copyFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { badRequest, conflict } from "../core/errors.ts";
import { deviceNames, diskOrder } from "../core/devices.ts";
import { publicMessage } from "../core/public-message.ts";
import { checkTags } from "../core/tag-rules.ts";
import type { SnapshotId } from "../core/ids.ts";
import type { BlockDeviceMapping, Image, Operation, Snapshot, Tags, Volume } from "../core/types.ts";
import { paths, type ServiceContext } from "./context.ts";
import { imageRecord, type Images } from "./images.ts";
import type { Instances } from "./instances.ts";
import { runDetached } from "./background.ts";
import { ensureFreeSpace } from "./free-space.ts";
import type { Operations } from "./operations.ts";
import type { Snapshots } from "./snapshots.ts";
import type { VmRegistry } from "./vm-registry.ts";
import type { Volumes } from "./volumes.ts";

export interface CreateImageRequest {
  instanceId: string;
  name: string;
  description?: string;
  generalize?: boolean;
  /** With generalize: also remove the image's default user, as `waagent -deprovision+user`. */
  removeUser?: boolean;
  noReboot?: boolean;
  excludeVolumeIds?: string[];
  tags?: Tags;
  snapshotTags?: Tags;
}

const capturable = ["running", "stopped", "deallocated", "generalized"];

/** CreateImage: an image from an instance's volumes, specialized or generalized. */
export class ImageCapture {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly ops: Operations,
    private readonly images: Images,
    private readonly instances: Instances,
    private readonly volumes: Volumes,
    private readonly snapshots: Snapshots,
    private readonly vms: VmRegistry,
  ) {}

  create(req: CreateImageRequest): { image: Image; operation: Operation } {
    const inst = this.instances.get(req.instanceId);
    if (!capturable.includes(inst.state)) {
      throw conflict("INVALID_INSTANCE_STATE", `Cannot create an image from instance ${inst.id}: it is ${inst.state}`);
    }
    const attached = this.volumes.list({ instanceId: inst.id });
    for (const v of req.excludeVolumeIds ?? []) {
      const vol = attached.find((x) => x.id === v);
      if (!vol) throw badRequest("VOLUME_NOT_ATTACHED", `Volume ${v} is not attached to instance ${inst.id}`);
      if (vol.kind === "boot") throw badRequest("BOOT_VOLUME", `The boot volume ${v} cannot be excluded from the image`);
    }
    const volumes = diskOrder(attached.filter((v) => !(req.excludeVolumeIds ?? []).includes(v.id)));
    checkTags(req.snapshotTags ?? {}); // now, not when the snapshots are made
    const source = this.images.get(inst.imageId);
    const generalized = req.generalize === true || inst.state === "generalized";
    const image = imageRecord({
      name: req.name,
      description: req.description,
      state: "pending",
      osType: source.osType,
      osState: generalized ? "generalized" : "specialized",
      architecture: source.architecture,
      rootDeviceName: source.rootDeviceName,
      defaultUser: source.defaultUser,
      virtualSize: volumes[0]?.size ?? source.virtualSize,
      blockDeviceMappings: [],
      sourceInstanceId: inst.id,
      sourceMacAddress: inst.macAddress,
      tags: req.tags,
    });
    // The name check and the insert in one transaction: two creates with one name cannot both pass.
    const operation = this.ctx.catalog.transaction(() => {
      this.images.checkNameFree(req.name, req.description);
      this.ctx.catalog.images.insert(image);
      return this.ops.create("image-create", image.id, `Creating ${image.id} from ${inst.id}`);
    });
    runDetached(this.ctx.log, "image creation", this.run(image, volumes, req, operation.id));
    return { image, operation };
  }

  private async run(image: Image, volumes: Volume[], req: CreateImageRequest, opId: string): Promise<void> {
    const copies: { volume: Volume; file: string }[] = [];
    const made: Snapshot[] = [];
    const instanceId = req.instanceId;
    let restart = false;
    try {
      // 1. Consistent copies of the volumes' own layers (they cost what they hold).
      const inst = this.instances.get(instanceId);
      // With a reboot, as EC2: the instance goes rebooting (never stopping) while it shuts down, stopped for the copy, then starts again.
      const restartReason = `Restarting for CreateImage of ${image.id}`;
      if (inst.state === "running" && !req.noReboot) {
        this.ops.progress(opId, 1, `Shutting ${instanceId} down cleanly for the copy`);
        restart = true;
        const off = await this.instances.powerOffForCapture(instanceId, restartReason);
        restart = off.stateReason === restartReason; // stopped by the user meanwhile: it stays stopped
      }
      // The copies hold what the volumes' qcow2 files hold (their own layers).
      let copyBytes = 0;
      for (const volume of volumes) copyBytes += (await stat(volume.path)).size;
      await ensureFreeSpace(paths.uploads(this.ctx.settings.dataDir), copyBytes, `Image ${image.id}`);
      const { consistency } = await this.vms.freeze(instanceId, async () => {
        for (const volume of volumes) {
          const file = join(paths.uploads(this.ctx.settings.dataDir), `${image.id}-${volume.id}.qcow2`);
          copies.push({ volume, file });
          await copyFile(volume.path, file);
        }
      });
      if (restart) {
        this.instances.start(instanceId, restartReason);
        restart = false;
      }
      // 2. Generalize the copy offline; the source instance is never touched.
      const boot = copies[0];
      if (req.generalize && boot) {
        this.ops.progress(opId, 10, "Generalizing a copy of the boot volume (virt-sysprep)");
        await this.ctx.guestTools.generalize(boot.file, { removeUser: req.removeUser ? image.defaultUser : null });
        this.ops.progress(opId, 40, "Scanning the generalized copy for identity and secrets");
        const leftovers = await this.ctx.guestTools.findLeftovers(boot.file);
        if (leftovers.length > 0) {
          throw conflict("GENERALIZATION_INCOMPLETE", `The generalized image still holds: ${leftovers.join("; ")}`);
        }
      }
      // 3. Snapshots of the copies, incremental on what each volume was made from.
      const mappings: BlockDeviceMapping[] = [];
      for (const [n, { volume, file }] of copies.entries()) {
        const snap = this.snapshots.draft({
          volumeId: volume.id,
          parentId: volume.baseSnapshotId,
          volumeSize: volume.size,
          description: `Created by CreateImage(${instanceId}) for ${image.id}`,
          tags: req.snapshotTags,
        });
        this.ctx.catalog.snapshots.insert(snap);
        made.push(snap);
        // The copy was taken under the freeze: its snapshot records that consistency, not "clean".
        await this.snapshots.capture(snap, { file, format: "qcow2", parentId: volume.baseSnapshotId, consistency }, (p) =>
          this.ops.progress(opId, 50 + (50 * (n + p / 100)) / copies.length),
        );
        mappings.push({
          deviceName: deviceNames(image.rootDeviceName, volumes).get(volume.id) ?? image.rootDeviceName,
          snapshotId: snap.id as SnapshotId,
          volumeSize: volume.size,
          deleteOnTermination: n === 0 ? true : volume.deleteOnTermination,
        });
      }
      const done: Image = { ...this.images.get(image.id), state: "available", blockDeviceMappings: mappings, consistency };
      this.ctx.catalog.images.update(done);
      this.ops.succeed(opId, `Image ${image.id} is available`);
    } catch (err) {
      const reason = publicMessage(err);
      this.ctx.log.error({ imageId: image.id, err: err instanceof Error ? err.message : String(err), detail: (err as { detail?: unknown }).detail }, "image creation failed");
      // Nothing half-made stays: the snapshots this capture made go (their chunks at the next gc).
      for (const s of made) {
        await this.ctx.manifests.delete(s.id);
        this.ctx.catalog.snapshots.delete(s.id);
      }
      this.ctx.catalog.images.update({ ...this.images.get(image.id), state: "failed", stateReason: reason });
      this.ops.fail(opId, err);
    } finally {
      for (const c of copies) await rm(c.file, { force: true });
      if (restart) {
        try {
          this.instances.start(instanceId, `Restarting after a failed CreateImage of ${image.id}`);
        } catch {
          // it was started or terminated meanwhile
        }
      }
    }
  }
}

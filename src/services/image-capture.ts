import { copyFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { badRequest, conflict } from "../core/errors.ts";
import { deviceNames, diskOrder } from "../core/devices.ts";
import { publicMessage } from "../core/public-message.ts";
import { checkTags } from "../core/tag-rules.ts";
import type { SnapshotId } from "../core/ids.ts";
import type { BlockDeviceMapping, Image, Operation, Snapshot, Tags, Volume } from "../core/types.ts";
import type { WindowsInspection } from "../core/windows.ts";
import { sysprepRunLimit } from "../core/windows-preflight.ts";
import { paths, type ServiceContext } from "./context.ts";
import { imageRecord, type Images } from "./images.ts";
import type { Instances } from "./instances.ts";
import { runDetached } from "./background.ts";
import { ensureFreeSpace } from "./free-space.ts";
import type { Operations } from "./operations.ts";
import type { Snapshots } from "./snapshots.ts";
import type { VmRegistry } from "./vm-registry.ts";
import type { Volumes } from "./volumes.ts";
import type { WindowsImages } from "./windows-images.ts";

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
  /** A generalized Windows capture despite blocking Sysprep preflight findings. */
  force?: boolean;
  /** A generalized Windows image: general (default) or custom, as OCI. */
  imageType?: "general" | "custom";
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
    private readonly windows: WindowsImages,
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
    const windows = source.osType === "windows";
    if (req.imageType && !(windows && generalized)) throw badRequest("IMAGE_TYPE_NOT_EXPECTED", "An image type (general or custom) is chosen only for a generalized Windows image");
    if (generalized) checkSysprepCount(source);
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
      generalizations: (source.generalizations ?? 0) + (generalized ? 1 : 0),
      imageType: windows && generalized ? (req.imageType ?? "general") : null,
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
      let windows: Pick<Image, "windows"> = {};
      if (image.osType === "windows" && boot) {
        windows = { windows: await this.windowsOffline(image, boot.file, req, opId) };
      } else if (req.generalize && boot) {
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
      const done: Image = { ...this.images.get(image.id), ...windows, state: "available", blockDeviceMappings: mappings, consistency };
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

  /**
   * A Windows disk, offline on the copy: inspection, and for a generalized image the
   * Sysprep preflight, then the RDP lock and the Panther leftovers gone (docs/windows.md).
   */
  private async windowsOffline(image: Image, file: string, req: CreateImageRequest, opId: string): Promise<WindowsInspection | null> {
    if (image.osState !== "generalized") {
      this.ops.progress(opId, 10, "Inspecting the Windows disk offline (libguestfs)");
      const [found] = await this.ctx.windowsTools.inspect([{ file, format: "qcow2" }]);
      return found?.windows ?? null;
    }
    this.ops.progress(opId, 10, "Sysprep preflight on a copy of the boot volume (libguestfs, hivex)");
    const { windows, findings } = await this.windows.checkCapture(file, this.images.get(this.instances.get(req.instanceId).imageId), { force: req.force === true });
    if (findings.length > 0) this.ctx.log.warn({ imageId: image.id, findings: findings.map((f) => f.code) }, "Sysprep preflight findings");
    this.ops.progress(opId, 30, "Writing the RDP lock and removing leftover answer files on the copy");
    await this.ctx.windowsTools.generalize(file);
    return windows;
  }
}

/** Sysprep refuses to run past its limit; the disk holds no reliable count, so imagesmith keeps its own. */
function checkSysprepCount(source: Image): void {
  const done = source.generalizations ?? 0;
  if (source.osType === "windows" && done >= sysprepRunLimit) {
    throw conflict("SYSPREP_LIMIT", `Image ${source.id}'s lineage has been generalized ${done} times: Sysprep runs at most ${sysprepRunLimit} times on one installation; build a fresh image from installation media`);
  }
}

import { AccessKeys } from "./access-keys.ts";
import { runDetached } from "./background.ts";
import type { ServiceContext } from "./context.ts";
import { Events } from "./events.ts";
import { ExportSweeper } from "./export-sweeper.ts";
import { ImageCapture } from "./image-capture.ts";
import { Images } from "./images.ts";
import { Instances } from "./instances.ts";
import { KeyPairs } from "./key-pairs.ts";
import { Operations } from "./operations.ts";
import { Snapshots } from "./snapshots.ts";
import { TagService } from "./tags.ts";
import { VmRegistry } from "./vm-registry.ts";
import { Volumes } from "./volumes.ts";
import { WindowsImages } from "./windows-images.ts";

/** The use cases, wired to one context. */
export class Services {
  readonly operations: Operations;
  readonly events: Events;
  readonly keyPairs: KeyPairs;
  readonly accessKeys: AccessKeys;
  readonly snapshots: Snapshots;
  readonly volumes: Volumes;
  readonly images: Images;
  readonly instances: Instances;
  readonly imageCapture: ImageCapture;
  readonly windowsImages: WindowsImages;
  readonly tags: TagService;
  readonly exportSweeper: ExportSweeper;
  private timers: NodeJS.Timeout[] = [];

  constructor(readonly ctx: ServiceContext) {
    const vms = new VmRegistry();
    this.operations = new Operations(ctx.catalog, ctx.log);
    this.events = new Events(ctx.catalog);
    this.keyPairs = new KeyPairs(ctx.catalog);
    this.accessKeys = new AccessKeys(ctx.catalog, ctx.secrets);
    this.snapshots = new Snapshots(ctx, this.operations);
    this.volumes = new Volumes(ctx, this.operations, this.snapshots, vms);
    this.images = new Images(ctx, this.operations, this.snapshots);
    this.instances = new Instances(ctx, this.images, this.keyPairs, this.volumes, vms);
    this.windowsImages = new WindowsImages(ctx, this.operations, this.images, this.instances, this.volumes, this.snapshots);
    this.imageCapture = new ImageCapture(ctx, this.operations, this.images, this.instances, this.volumes, this.snapshots, vms, this.windowsImages);
    this.tags = new TagService(ctx.catalog, this);
    this.exportSweeper = new ExportSweeper(ctx);
  }

  /** After a restart: fail or finish what was under way, find running VMs again. */
  async recover(): Promise<void> {
    await this.snapshots.recover();
    await this.images.recover();
    // Standalone volumes only; those of instances are recovered with their instance, next.
    await this.volumes.recover();
    this.operations.recover();
    await this.exportSweeper.sweep({ partials: true });
    await this.instances.recover();
  }

  /** Starts the periodic work: export files expire. */
  start(): void {
    const sweep = setInterval(() => runDetached(this.ctx.log, "export expiry", this.exportSweeper.sweep({ partials: false })), this.exportSweeper.intervalMs);
    sweep.unref();
    this.timers.push(sweep);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}

import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { badRequest, conflict, notFound } from "../core/errors.ts";
import { newId, type InstanceId } from "../core/ids.ts";
import { publicMessage } from "../core/public-message.ts";
import { transitionInstance, type InstanceAction, type InstanceState } from "../core/instance-state.ts";
import { defaultInstanceType, findInstanceType } from "../core/instance-types.ts";
import type { Vm, VmSpec } from "../core/ports.ts";
import type { AdminPasswordMode, Instance, Tags, Volume } from "../core/types.ts";
import { runDetached } from "./background.ts";
import { matchesTags } from "./filters.ts";
import { checkCapacity, checkIdentity, configDriveContent } from "./launch-rules.ts";
import { defaultPasswordMode, planPassword, type PasswordPlan } from "./passwords.ts";
import type { VmRegistry } from "./vm-registry.ts";
import type { Volumes } from "./volumes.ts";
import { consoleHas, fileSize, waitForConsoleLine } from "./console-watch.ts";
import { paths, type ServiceContext } from "./context.ts";
import { newMacAddress, newSmbiosUuid } from "./identity.ts";
import type { Images } from "./images.ts";
import type { KeyPairs } from "./key-pairs.ts";

export interface RunInstancesRequest {
  imageId: string;
  count: number;
  instanceType?: string;
  keyName?: string;
  userData?: string;
  hostname?: string;
  tags?: Tags;
  /** New data volumes for each instance: empty of a size, or from a snapshot. */
  dataVolumes?: { sizeGiB?: number; snapshotId?: string; deleteOnTermination?: boolean }[];
  adminPassword?: AdminPasswordMode;
  /** For specify: the plaintext, zeroed once hashed. */
  adminPasswordPlain?: Buffer;
  /** Launch a specialized image more than once at a time, knowing the copies share an identity. */
  allowDuplicateIdentity?: boolean;
}

export interface InstanceFilter {
  state?: string;
  imageId?: string;
  tags?: Tags;
}


const readyLine = /imagesmith-guest: ready/;
const liveStates: readonly InstanceState[] = ["pending", "running", "rebooting", "stopping"];
/** Terminated instances stay visible this long, then are purged. */
const terminatedRetentionMs = 60 * 60 * 1000;

export class Instances {
  private readonly readyWatchers = new Map<string, AbortController>();

  constructor(
    private readonly ctx: ServiceContext,
    private readonly images: Images,
    private readonly keyPairs: KeyPairs,
    private readonly volumes: Volumes,
    private readonly vms: VmRegistry,
  ) {}

  get(id: string): Instance {
    const inst = this.ctx.catalog.instances.get(id);
    if (!inst) throw notFound("INSTANCE_NOT_FOUND", `Instance ${id} does not exist`);
    return inst;
  }

  list(filter: InstanceFilter = {}): Instance[] {
    return this.ctx.catalog.instances
      .list()
      .filter((i) => !filter.state || i.state === filter.state)
      .filter((i) => !filter.imageId || i.imageId === filter.imageId)
      .filter((i) => matchesTags(i.tags, filter.tags));
  }

  async consoleOutput(id: string): Promise<string> {
    this.get(id);
    const log = this.consoleLog(id);
    const size = await fileSize(log);
    const text = await readFile(log, "utf8").catch(() => "");
    // Like EC2 GetConsoleOutput: the most recent 64 KiB.
    return size > 65536 ? text.slice(-65536) : text;
  }

  /** Registers count instances as pending and launches them in the background. */
  async run(req: RunInstancesRequest): Promise<Instance[]> {
    const image = this.images.launchable(req.imageId);
    const type = findInstanceType(req.instanceType ?? defaultInstanceType);
    const key = req.keyName ? this.keyPairs.get(req.keyName) : null;
    const root = image.blockDeviceMappings[0];
    if (!root) throw badRequest("IMAGE_HAS_NO_DISK", `Image ${image.id} has no root disk`);
    if (req.hostname && req.count > 1) {
      throw badRequest("HOSTNAME_NEEDS_SINGLE_INSTANCE", "A hostname can be given only when launching one instance");
    }
    const admit = () => {
      const live = this.list({ imageId: image.id }).filter((i) => i.state !== "terminated" && i.state !== "shutting-down");
      checkIdentity(image, req.count, live, req.allowDuplicateIdentity === true);
      checkCapacity(this.ctx.catalog.instances.list(), this.ctx.settings.capacity, type.vcpus * req.count, type.memoryMiB * req.count);
    };
    admit(); // early, before any password is hashed
    const mode = req.adminPassword ?? defaultPasswordMode(image, key);
    if (req.adminPasswordPlain && mode !== "specify") throw badRequest("PASSWORD_NOT_EXPECTED", `A password is given only with the specify mode, not ${mode}`);
    // One random password per instance; a specified one is hashed once for all.
    const plans: PasswordPlan[] = [];
    for (let n = 0; n < req.count; n++) {
      if (mode === "specify" && plans[0]) plans.push(plans[0]);
      else plans.push(await planPassword({ image, mode, keyPair: key, specified: req.adminPasswordPlain ?? null }));
    }
    const now = new Date().toISOString();
    const launched: Instance[] = [];
    this.ctx.catalog.transaction(() => {
      // Again with the inserts, in one transaction: launches racing past the
      // awaits above cannot both take the last capacity or one identity.
      admit();
      for (let n = 0; n < req.count; n++) {
        const id = newId<InstanceId>("instance");
        const volume = this.volumes.draft({ snapshotId: root.snapshotId, kind: "boot", instanceId: id, deleteOnTermination: root.deleteOnTermination });
        const data = (req.dataVolumes ?? []).map((d) => this.volumes.draft({ ...d, kind: "data", instanceId: id, deleteOnTermination: d.deleteOnTermination ?? true }));
        const inst: Instance = {
          id,
          imageId: image.id,
          instanceType: type.name,
          vcpus: type.vcpus,
          memoryMiB: type.memoryMiB,
          state: "pending",
          stateReason: null,
          keyName: key?.name ?? null,
          hostname: req.hostname ?? id,
          macAddress: newMacAddress(),
          smbiosUuid: newSmbiosUuid(),
          bootVolumeId: volume.id,
          userData: req.userData ?? null,
          ready: false,
          adminPassword: { mode, passwordData: plans[n]?.passwordData ?? null, setAt: null },
          runtime: null,
          launchedAt: now,
          tags: req.tags ?? {},
        };
        for (const v of [volume, ...data]) this.ctx.catalog.volumes.insert(v);
        this.ctx.catalog.instances.insert(inst);
        launched.push(inst);
      }
    });
    launched.forEach((inst, n) => runDetached(this.ctx.log, `launch of ${inst.id}`, this.launch(inst.id, key?.publicKey ?? null, plans[n]?.configDrive ?? null)));
    return launched;
  }

  stop(id: string): Instance {
    const inst = this.change(id, "stop", { stateReason: "User initiated shutdown" });
    const vm = this.vms.get(id);
    if (vm) runDetached(this.ctx.log, `shutdown of ${id}`, vm.shutdown(this.ctx.settings.shutdownTimeoutMs));
    else return this.change(id, "stopped", { runtime: null, ready: false });
    return inst;
  }

  start(id: string): Instance {
    const inst = this.ctx.catalog.transaction(() => {
      const before = this.get(id);
      // A deallocated instance takes its reservation back: checked and taken in one transaction.
      if (before.state === "deallocated") checkCapacity(this.ctx.catalog.instances.list(), this.ctx.settings.capacity, before.vcpus, before.memoryMiB);
      return this.change(id, "start", { stateReason: null });
    });
    this.bootInBackground(id);
    return inst;
  }

  async reboot(id: string): Promise<Instance> {
    const vm = this.vms.get(id);
    const inst = this.change(id, "reboot", { ready: false });
    if (!vm) return inst;
    this.readyWatchers.get(id)?.abort();
    const offset = await fileSize(this.consoleLog(id));
    await vm.reset();
    runDetached(this.ctx.log, `readiness watch of ${id}`, this.awaitReady(id, vm, offset));
    return inst;
  }

  /** Resolves once the instance is in `state`; rejects on timeout. */
  async waitFor(id: string, state: InstanceState, timeoutMs: number): Promise<Instance> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const inst = this.get(id);
      if (inst.state === state) return inst;
      if (Date.now() > deadline) throw new Error(`Instance ${id} did not become ${state} within ${timeoutMs / 1000} s (it is ${inst.state})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Releases a stopped instance's vCPU and memory reservation (Azure's "Stopped (deallocated)"). */
  deallocate(id: string): Instance {
    return this.change(id, "deallocate", { stateReason: "User initiated deallocation" });
  }

  /**
   * The user generalized the guest from inside (Sysprep, waagent -deprovision)
   * and shut it down: it can no longer start; images captured from it are generalized.
   */
  generalize(id: string): Instance {
    return this.change(id, "generalize", { stateReason: "Generalized in the guest by the user" });
  }

  /** EC2 GetPasswordData: the ciphertext only; the platform cannot decrypt it. */
  passwordData(id: string): { passwordData: string; setAt: string | null } {
    const inst = this.get(id);
    if (inst.adminPassword.mode !== "random" || !inst.adminPassword.passwordData) {
      throw conflict("NO_PASSWORD_DATA", `Instance ${id} has no generated password: its admin password mode is ${inst.adminPassword.mode}`);
    }
    return { passwordData: inst.adminPassword.passwordData, setAt: inst.adminPassword.setAt };
  }

  terminate(id: string): Instance {
    const inst = this.change(id, "terminate", { stateReason: "User initiated termination" });
    runDetached(this.ctx.log, `termination of ${id}`, this.finishTermination(id));
    return inst;
  }

  /** After a daemon restart: find running VMs again, finish or fail what was under way. */
  async recover(): Promise<void> {
    for (const inst of this.ctx.catalog.instances.list()) {
      if (inst.state === "shutting-down") {
        await this.finishTermination(inst.id);
        continue;
      }
      if (!liveStates.includes(inst.state)) continue;
      const vm = await this.ctx.hypervisor.reattach(this.spec(inst), inst.runtime);
      if (vm && !inst.runtime?.pid) {
        // Started, but the daemon died before recording its pid: record it now.
        inst.runtime = { ...vm.runtime, consoleOffset: inst.runtime?.consoleOffset ?? 0 };
        this.save(inst);
      }
      if (vm) {
        this.ctx.log.info({ instanceId: inst.id, pid: vm.runtime.pid }, "reattached to running VM");
        const undone = await vm.undoInterruptedFreeze().catch((err: unknown) => [`could not check: ${(err as Error).message}`]);
        if (undone.length > 0) this.ctx.log.warn({ instanceId: inst.id, undone }, "a snapshot was interrupted while the VM was paused or frozen");
        this.supervise(inst.id, vm, inst.runtime?.consoleOffset ?? 0);
        if (inst.state === "stopping") runDetached(this.ctx.log, `shutdown of ${inst.id}`, vm.shutdown(this.ctx.settings.shutdownTimeoutMs));
      } else if (inst.state === "pending" && !inst.runtime?.pid && (await fileSize(this.configDrivePath(inst.id))) > 0) {
        // Interrupted after its config drive was written (with any password hash): boot it.
        this.bootInBackground(inst.id);
      } else if (inst.state === "pending" && !inst.runtime?.pid) {
        this.save({ ...inst, state: "shutting-down" });
        await this.finishTermination(inst.id, "The daemon stopped before the instance's config drive was written");
      } else {
        this.save({ ...inst, state: "stopped", runtime: null, ready: false, stateReason: "The VM process ended while the daemon was down" });
      }
    }
    this.purgeTerminated();
  }

  /** Stops supervising without touching the VMs: they keep running for the next daemon. */
  detach(): void {
    for (const w of this.readyWatchers.values()) w.abort();
    // takeAll() first, so that onVmExit ignores the closing QMP connections.
    for (const vm of this.vms.takeAll()) vm.release();
  }

  purgeTerminated(now = Date.now()): void {
    for (const inst of this.ctx.catalog.instances.list()) {
      if (inst.state === "terminated" && now - Date.parse(inst.launchedAt) > terminatedRetentionMs) {
        this.ctx.catalog.instances.delete(inst.id);
      }
    }
  }

  private async launch(id: string, publicKey: string | null, password: PasswordPlan["configDrive"]): Promise<void> {
    try {
      const inst = this.get(id);
      const image = this.images.get(inst.imageId);
      await mkdir(this.instanceDir(id), { recursive: true });
      for (const v of this.volumes.list({ instanceId: id })) if (v.state === "creating") await this.volumes.makeFile(v);
      await this.ctx.configDrive.build(this.configDrivePath(id), configDriveContent(inst, image, publicKey, password));
      await this.boot(id);
    } catch (err) {
      // Terminated while launching: the termination has cleaned up already.
      if (this.get(id).state !== "pending") return;
      const reason = `Launch failed: ${publicMessage(err)}`;
      this.ctx.log.error({ instanceId: id, err: err instanceof Error ? err.message : String(err) }, "launch failed");
      this.change(id, "terminate", { stateReason: reason });
      await this.finishTermination(id, reason);
    }
  }

  private async boot(id: string): Promise<void> {
    const inst = this.get(id);
    if (inst.state !== "pending") return;
    const offset = await fileSize(this.consoleLog(id));
    // Where this boot's console starts, recorded before QEMU runs (pid 0: not known yet),
    // so that a daemon dying before the pid is recorded finds the VM and its output again.
    this.save({ ...inst, runtime: { pid: 0, qmpSocket: "", sshPort: 0, consoleOffset: offset } });
    const vm = await this.ctx.hypervisor.start(this.spec(inst));
    const now = this.get(id);
    if (now.state !== "pending") {
      await vm.kill(); // stopped or terminated while QEMU was starting
      return;
    }
    this.save({ ...now, runtime: { ...vm.runtime, consoleOffset: offset } });
    this.supervise(id, vm, offset);
  }

  private bootInBackground(id: string): void {
    runDetached(this.ctx.log, `boot of ${id}`, this.boot(id).catch((err: unknown) => this.bootFailed(id, err)));
  }

  private bootFailed(id: string, err: unknown): void {
    const reason = `Start failed: ${publicMessage(err)}`;
    this.ctx.log.error({ instanceId: id, err: err instanceof Error ? err.message : String(err) }, "start failed");
    const inst = this.get(id);
    if (inst.state === "pending") this.save({ ...inst, state: "stopped", runtime: null, stateReason: reason });
  }

  private supervise(id: string, vm: Vm, consoleOffset: number): void {
    this.vms.set(id, vm);
    runDetached(this.ctx.log, `supervision of ${id}`, vm.exited.then(() => this.onVmExit(id, vm)));
    const inst = this.get(id);
    if (inst.state === "pending" || inst.state === "rebooting") runDetached(this.ctx.log, `readiness watch of ${id}`, this.awaitReady(id, vm, consoleOffset));
  }

  private async awaitReady(id: string, vm: Vm, offset: number): Promise<void> {
    const watcher = new AbortController();
    this.readyWatchers.set(id, watcher);
    const line = await waitForConsoleLine(this.consoleLog(id), readyLine, {
      offset,
      timeoutMs: this.ctx.settings.bootTimeoutMs,
      signal: watcher.signal,
    });
    if (watcher.signal.aborted || this.vms.get(id) !== vm) return;
    this.readyWatchers.delete(id);
    try {
      const sshPort = await vm.openSsh();
      const inst = this.get(id);
      if (inst.state !== "pending" && inst.state !== "rebooting") return;
      const stateReason = line ? null : `The guest did not report ready within ${this.ctx.settings.bootTimeoutMs / 1000} s`;
      const passwordSet = inst.adminPassword.setAt ?? ((await consoleHas(this.consoleLog(id), offset, /imagesmith-guest: password set/)) ? new Date().toISOString() : null);
      this.change(id, "boot", {
        ready: line !== undefined,
        stateReason,
        adminPassword: { ...inst.adminPassword, setAt: passwordSet },
        runtime: { ...(inst.runtime ?? vm.runtime), sshPort },
      });
      if (passwordSet && !inst.adminPassword.setAt) await this.wipePasswordHash(inst);
      this.ctx.log.info({ instanceId: id, sshPort, ready: line !== undefined }, "instance running");
    } catch (err) {
      this.ctx.log.error({ instanceId: id, err: (err as Error).message }, "opening SSH failed");
    }
  }

  /** Once the guest confirmed its password, the config drive no longer carries even its hash. */
  private async wipePasswordHash(inst: Instance): Promise<void> {
    const key = inst.keyName ? this.ctx.catalog.keyPairs.list().find((k) => k.name === inst.keyName) : undefined;
    await this.ctx.configDrive.build(this.configDrivePath(inst.id), configDriveContent(inst, this.images.get(inst.imageId), key?.publicKey ?? null, null));
  }

  private onVmExit(id: string, vm: Vm): void {
    if (this.vms.get(id) !== vm) return;
    this.vms.delete(id);
    this.readyWatchers.get(id)?.abort();
    this.readyWatchers.delete(id);
    const inst = this.ctx.catalog.instances.get(id);
    if (!inst || !liveStates.includes(inst.state)) return;
    const stateReason = inst.state === "stopping" ? inst.stateReason : "The guest shut down or its VM process ended";
    this.change(id, "stopped", { runtime: null, ready: false, stateReason });
  }

  private async finishTermination(id: string, reason?: string): Promise<void> {
    this.readyWatchers.get(id)?.abort();
    const vm = this.vms.get(id);
    this.vms.delete(id);
    if (vm) await vm.kill();
    else {
      const inst = this.get(id);
      const orphan = await this.ctx.hypervisor.reattach(this.spec(inst), inst.runtime);
      await orphan?.kill();
    }
    const inst = this.get(id);
    for (const v of this.ctx.catalog.volumes.list().filter((x) => x.instanceId === id)) {
      if (v.deleteOnTermination) {
        await rm(v.path, { force: true });
        this.ctx.catalog.volumes.delete(v.id);
      } else {
        this.ctx.catalog.volumes.update({ ...v, instanceId: null, state: v.state === "creating" ? "error" : "available" });
      }
    }
    const dir = this.instanceDir(id);
    for (const f of ["cidata.iso", "qmp.sock", "qga.sock", "qemu.pid"]) await rm(join(dir, f), { force: true });
    this.save({ ...inst, state: "terminated", runtime: null, ready: false, stateReason: reason ?? inst.stateReason });
  }

  /** Applies a state-machine action (409 if illegal) and other field changes. */
  private change(id: string, action: InstanceAction, fields: Partial<Instance> = {}): Instance {
    return this.ctx.catalog.transaction(() => {
      const inst = this.get(id);
      const state = transitionInstance(id, inst.state, action);
      return this.save({ ...inst, ...fields, state });
    });
  }

  private save(inst: Instance): Instance {
    this.ctx.catalog.instances.update(inst);
    return inst;
  }

  private bootVolume(inst: Instance): Volume {
    const v = this.ctx.catalog.volumes.get(inst.bootVolumeId);
    if (!v) throw new Error(`boot volume ${inst.bootVolumeId} of ${inst.id} is missing`);
    return v;
  }

  private spec(inst: Instance): VmSpec {
    return {
      instanceId: inst.id,
      vcpus: inst.vcpus,
      memoryMiB: inst.memoryMiB,
      bootDisk: this.bootVolume(inst).path,
      dataDisks: this.volumes
        .list({ instanceId: inst.id })
        .filter((v) => v.kind === "data")
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
        .map((v) => v.path),
      configDrive: this.configDrivePath(inst.id),
      macAddress: inst.macAddress,
      smbiosUuid: inst.smbiosUuid,
      consoleLog: this.consoleLog(inst.id),
      runDir: this.instanceDir(inst.id),
    };
  }

  private instanceDir(id: string): string {
    return paths.instanceDir(this.ctx.settings.dataDir, id);
  }

  private consoleLog(id: string): string {
    return join(this.instanceDir(id), "console.log");
  }

  private configDrivePath(id: string): string {
    return join(this.instanceDir(id), "cidata.iso");
  }
}

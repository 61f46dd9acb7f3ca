import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { badRequest, conflict, notFound } from "../core/errors.ts";
import { checkLaunch } from "../core/input-rules.ts";
import { passwordFromConsole } from "../core/console-password.ts";
import { diskOrder } from "../core/devices.ts";
import { computerNameFor } from "../core/unattend.ts";
import { metadataOf } from "../core/guest-contract.ts";
import { newId, type InstanceId, type ReservationId } from "../core/ids.ts";
import { publicMessage } from "../core/public-message.ts";
import { transitionInstance, type InstanceAction, type InstanceState } from "../core/instance-state.ts";
import { checkTags } from "../core/tag-rules.ts";
import { defaultInstanceType, findInstanceType } from "../core/instance-types.ts";
import type { GuestHandlers, GuestMetadata, GuestReport, Vm, VmSpec } from "../core/ports.ts";
import type { AdminPasswordMode, Instance, Tags, Volume, WindowsLaunchSettings } from "../core/types.ts";
import { runDetached } from "./background.ts";
import { matchesTags } from "./filters.ts";
import { checkCapacity, checkClientToken, checkIdentity, repeatedLaunch, seedFor, type LaunchParameters } from "./launch-rules.ts";
import { watchReadiness, type ReadinessResult } from "./readiness-watch.ts";
import { defaultPasswordMode, guestChosePassword, guestSetPassword, planPassword, type PasswordPlan } from "./passwords.ts";
import type { VmRegistry } from "./vm-registry.ts";
import type { Volumes } from "./volumes.ts";
import { fileSize } from "./console-watch.ts";
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
  /** A generalized Windows image: the answer file's time zone, locale, CopyProfile, registered owner. */
  windowsSettings?: WindowsLaunchSettings;
  /**
   * EC2's ClientToken (1 to 64 printable ASCII): a launch repeated with it
   * launches nothing and returns the instances of the first.
   */
  clientToken?: string;
}

export interface InstanceFilter {
  state?: string;
  imageId?: string;
  tags?: Tags;
}


const liveStates: readonly InstanceState[] = ["pending", "running", "rebooting", "stopping"];
/** What a VM that is not (yet) up reports. */
const notReady = { statusCheck: "initializing", statusReason: null } as const;
/** Terminated instances stay visible this long, then are purged. */
const terminatedRetentionMs = 60 * 60 * 1000;

export class Instances {
  private readonly readyWatchers = new Map<string, AbortController>();
  private readonly settling = new Map<string, Promise<void>>();

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

  /**
   * Registers count instances as pending, in one reservation, and launches
   * them in the background. With a client token used before, launches
   * nothing: the instances of that launch when it asked for the same, else 409.
   */
  async run(req: RunInstancesRequest): Promise<Instance[]> {
    checkLaunch(req.count, req.userData);
    const token = req.clientToken ?? null;
    if (token !== null) checkClientToken(token);
    const type = findInstanceType(req.instanceType ?? defaultInstanceType);
    const asked: LaunchParameters = { imageId: req.imageId, count: req.count, instanceType: type.name, keyName: req.keyName ?? null };
    const repeated = (): Instance[] | undefined => {
      if (token === null) return undefined;
      const earlier = this.ctx.catalog.instances.list().filter((i) => i.clientToken === token);
      return earlier.length > 0 ? repeatedLaunch(earlier, token, asked) : undefined;
    };
    // Before the image, key pair and capacity are checked: they were, for the first launch, and may have changed since.
    const early = repeated();
    if (early) return early;
    checkTags(req.tags ?? {});
    const image = this.images.launchable(req.imageId);
    const key = req.keyName ? this.keyPairs.get(req.keyName) : null;
    const root = image.blockDeviceMappings[0];
    if (!root) throw badRequest("IMAGE_HAS_NO_DISK", `Image ${image.id} has no root disk`);
    if (req.windowsSettings && !(image.osType === "windows" && image.osState === "generalized")) {
      throw badRequest("WINDOWS_SETTINGS_NOT_EXPECTED", `Windows settings go in the answer file of a generalized Windows image; image ${image.id} is ${image.osState} ${image.osType}`);
    }
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
      else plans.push(await planPassword({ image, mode, keyPair: key, specified: req.adminPasswordPlain ?? null, seal: (plain) => this.ctx.secrets.seal(plain) }));
    }
    const now = new Date().toISOString();
    const reservationId = newId<ReservationId>("reservation");
    const launched: Instance[] = [];
    const replay = this.ctx.catalog.transaction(() => {
      // Again with the inserts, in one transaction: launches racing past the
      // awaits above cannot both take the last capacity or one identity, nor
      // both launch for one client token.
      const again = repeated();
      if (again) return again;
      admit();
      for (let n = 0; n < req.count; n++) {
        const id = newId<InstanceId>("instance");
        const volume = this.volumes.draft({ snapshotId: root.snapshotId, kind: "boot", instanceId: id, deleteOnTermination: root.deleteOnTermination });
        const data = (req.dataVolumes ?? []).map((d) => this.volumes.draft({ ...d, kind: "data", instanceId: id, deleteOnTermination: d.deleteOnTermination ?? true }));
        const inst: Instance = {
          id,
          reservationId,
          clientToken: token,
          imageId: image.id,
          instanceType: type.name,
          vcpus: type.vcpus,
          memoryMiB: type.memoryMiB,
          state: "pending",
          stateReason: null,
          keyName: key?.name ?? null,
          // A Windows computer name is 15 characters at most (NetBIOS).
          hostname: req.hostname ?? (image.osType === "windows" ? computerNameFor(id) : id),
          // A specialized copy keeps its source's NIC, and with it the network config inside.
          macAddress: image.osState === "specialized" && image.sourceMacAddress ? image.sourceMacAddress : newMacAddress(),
          smbiosUuid: newSmbiosUuid(),
          bootVolumeId: volume.id,
          userData: req.userData ?? null,
          windowsSettings: req.windowsSettings ?? null,
          ...notReady,
          phoneHome: { expected: false, at: null },
          seeded: false,
          adminPassword: { mode, passwordData: plans[n]?.passwordData ?? null, setAt: null, sealedForGuest: plans[n]?.sealedForGuest ?? null },
          runtime: null,
          launchedAt: now,
          tags: req.tags ?? {},
        };
        // Whether it boots with a seed, and whether that seed asks for a phone-home: seedFor says.
        const seed = seedFor(inst, image, null, null);
        inst.seeded = seed !== null;
        inst.phoneHome.expected = seed?.phoneHomeUrl != null;
        for (const v of [volume, ...data]) this.ctx.catalog.volumes.insert(v);
        this.ctx.catalog.instances.insert(inst);
        launched.push(inst);
      }
      return undefined;
    });
    if (replay) return replay;
    launched.forEach((inst, n) => runDetached(this.ctx.log, `launch of ${inst.id}`, this.launch(inst.id, key?.publicKey ?? null, plans[n]?.configDrive ?? null)));
    return launched;
  }

  /** A clean (ACPI) shutdown, hard after the timeout; force: hard at once, as EC2's StopInstances Force. */
  stop(id: string, options: { force?: boolean } = {}): Instance {
    const inst = this.change(id, "stop", { stateReason: options.force ? "User initiated forced shutdown" : "User initiated shutdown" });
    const vm = this.vms.get(id);
    if (vm) runDetached(this.ctx.log, `shutdown of ${id}`, options.force ? vm.kill() : vm.shutdown(this.ctx.settings.shutdownTimeoutMs));
    else return this.change(id, "stopped", { runtime: null, ...notReady });
    return inst;
  }

  /** Starts a stopped instance; `reason` says why while it is pending (the boot clears it). */
  start(id: string, reason: string | null = null): Instance {
    const inst = this.ctx.catalog.transaction(() => {
      const before = this.get(id);
      // A deallocated instance takes its reservation back: checked and taken in one transaction.
      if (before.state === "deallocated") checkCapacity(this.ctx.catalog.instances.list(), this.ctx.settings.capacity, before.vcpus, before.memoryMiB);
      return this.change(id, "start", { stateReason: reason });
    });
    this.bootInBackground(id);
    return inst;
  }

  async reboot(id: string): Promise<Instance> {
    const vm = this.vms.get(id);
    // No reason: a VM that ends during a reset did so by itself (onVmExit).
    const inst = this.change(id, "reboot", { ...notReady, stateReason: null });
    if (!vm) return inst;
    this.readyWatchers.get(id)?.abort();
    const offset = await fileSize(this.consoleLog(id));
    await vm.reset();
    const running = this.change(id, "boot", { runtime: { ...(inst.runtime ?? vm.runtime), consoleOffset: offset } });
    runDetached(this.ctx.log, `readiness watch of ${id}`, this.awaitReady(id, vm, offset));
    return running;
  }

  /**
   * CreateImage's clean power-off, the way EC2 reboots an instance for it:
   * running → rebooting while the guest shuts down (ACPI, then a hard stop
   * after the timeout), → stopped once its VM has ended, with `reason` on
   * both. Never stopping, which EC2's waiters take for a stop. Resolves once
   * the instance is stopped; start() brings it back.
   */
  async powerOffForCapture(id: string, reason: string): Promise<Instance> {
    this.change(id, "reboot", { ...notReady, stateReason: reason });
    this.readyWatchers.get(id)?.abort();
    const vm = this.vms.get(id);
    if (!vm) return this.change(id, "stopped", { runtime: null, ...notReady });
    await vm.shutdown(this.ctx.settings.shutdownTimeoutMs);
    // onVmExit records the stop, with the reason kept.
    return this.waitFor(id, "stopped", 30_000);
  }

  /** Resolves once the instance is in `state`; rejects on timeout, or at once when it is terminated. */
  async waitFor(id: string, state: InstanceState, timeoutMs: number): Promise<Instance> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const inst = this.get(id);
      if (inst.state === state) return inst;
      if (state !== "terminated" && (inst.state === "terminated" || inst.state === "shutting-down")) throw conflict("INVALID_INSTANCE_STATE", `Instance ${id} will not become ${state}: it is ${inst.state}`);
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

  /**
   * EC2 GetPasswordData: the ciphertext only (the platform cannot decrypt it),
   * and only once the guest has confirmed that it set the password: a
   * password that was never set is never handed out.
   */
  async passwordData(id: string): Promise<{ passwordData: string; setAt: string }> {
    let inst = this.get(id);
    if (!inst.adminPassword.passwordData && this.images.get(inst.imageId).osType === "windows") {
      // An EC2-style agent prints it on the serial console instead of posting it.
      const printed = passwordFromConsole(await this.consoleOutput(id));
      const now = this.get(id);
      if (printed) inst = this.save({ ...now, adminPassword: guestChosePassword(now.adminPassword, printed, new Date().toISOString()) });
    }
    if (!inst.adminPassword.passwordData) {
      throw conflict("NO_PASSWORD_DATA", `Instance ${id} has no generated password: its admin password mode is ${inst.adminPassword.mode}`);
    }
    if (!inst.adminPassword.setAt) {
      throw conflict("PASSWORD_NOT_AVAILABLE", `The admin password of instance ${id} is not available: the guest has not confirmed that it set it (status ${inst.statusCheck ?? "initializing"})`);
    }
    return { passwordData: inst.adminPassword.passwordData, setAt: inst.adminPassword.setAt };
  }

  /**
   * OCI's GetInstanceDefaultCredentials, for instances of a general Windows image: the
   * default user and the password made for it at launch, unsealed for this authenticated
   * call only, once the guest has confirmed that it set it.
   */
  credentials(id: string): { username: string; password: string } {
    const inst = this.get(id);
    const image = this.images.get(inst.imageId);
    const sealed = inst.adminPassword.sealedForGuest;
    if (image.imageType !== "general" || inst.adminPassword.mode !== "random" || !sealed) {
      throw conflict("NO_CREDENTIALS", `Instance ${id} has no retrievable credentials: only instances of a general Windows image launched with a random password have them (image ${image.id} is ${image.imageType ?? "not a generalized Windows image"}, the mode is ${inst.adminPassword.mode})`);
    }
    if (!inst.adminPassword.setAt) {
      throw conflict("PASSWORD_NOT_AVAILABLE", `The credentials of instance ${id} are not available: the guest has not confirmed that it set the password (status ${inst.statusCheck ?? "initializing"})`);
    }
    return { username: image.defaultUser, password: this.ctx.secrets.open(sealed) };
  }

  /** What the guest said on its own endpoint: a phone-home counts once, for this instance only. */
  private onGuestReport(id: string, report: GuestReport): void {
    if (report.kind !== "phone-home") {
      this.onPasswordReport(id, report);
      return;
    }
    const inst = this.ctx.catalog.instances.get(id);
    if (!inst || !liveStates.includes(inst.state) || inst.phoneHome?.at) return;
    this.ctx.log.info({ instanceId: id, hostname: report.hostname }, "the guest phoned home");
    const now = this.save({ ...inst, phoneHome: { expected: inst.phoneHome?.expected ?? false, at: new Date().toISOString() } });
    // Too late for the readiness watch (it ended: timed out, or ready by the agent alone): settle here,
    // so that the check turns ok and the password is confirmed.
    const vm = this.vms.get(id);
    if (vm && !this.readyWatchers.has(id) && (now.statusCheck !== "ok" || !now.adminPassword.setAt)) {
      runDetached(this.ctx.log, `readiness of ${id}`, this.settle(id, vm, { via: "phone-home", agentUp: false, passwordLine: false }));
    }
  }

  /**
   * The password channel of a Windows guest: cloudbase-init's encrypted password, or the
   * answer file's confirmation that it set the one it fetched. Either is as good as a
   * phone-home: the guest is up, and its password is set.
   */
  private onPasswordReport(id: string, report: Exclude<GuestReport, { kind: "phone-home" }>): void {
    const inst = this.ctx.catalog.instances.get(id);
    if (!inst || !liveStates.includes(inst.state)) return;
    const at = new Date().toISOString();
    const adminPassword = report.kind === "password" ? guestChosePassword(inst.adminPassword, report.passwordData, at) : guestSetPassword(inst.adminPassword, this.images.get(inst.imageId), at);
    this.save({ ...inst, adminPassword });
    this.ctx.log.info({ instanceId: id, kind: report.kind }, "the guest reported its password");
    this.onGuestReport(id, { kind: "phone-home", claimedInstanceId: null, hostname: null });
  }

  /** What this instance's endpoint serves and reports to: the same identity as its config drive. */
  private guestHandlers(id: string): GuestHandlers {
    return { onReport: (r) => this.onGuestReport(id, r), adminPassword: () => this.guestAdminPassword(id), metadata: () => this.guestMetadata(id) };
  }

  /** The password imagesmith chose for a Windows guest's answer file to fetch, until the guest confirms it. */
  private guestAdminPassword(id: string): string | null {
    const p = this.ctx.catalog.instances.get(id)?.adminPassword;
    return p?.sealedForGuest && !p.setAt ? this.ctx.secrets.open(p.sealedForGuest) : null;
  }

  private guestMetadata(id: string): GuestMetadata {
    const inst = this.get(id);
    const key = inst.keyName ? this.ctx.catalog.keyPairs.list().find((k) => k.name === inst.keyName) : undefined;
    const seed = seedFor(inst, this.images.get(inst.imageId), key?.publicKey ?? null, null);
    return seed ? metadataOf(seed) : { uuid: inst.id, hostname: null, publicKeys: {}, userData: null };
  }

  terminate(id: string): Instance {
    const inst = this.change(id, "terminate", { stateReason: "User initiated termination" });
    runDetached(this.ctx.log, `termination of ${id}`, this.finishTermination(id));
    return inst;
  }

  /** After a daemon restart: find running VMs again, finish or fail what was under way. */
  async recover(): Promise<void> {
    for (const inst of this.ctx.catalog.instances.list()) {
      // One instance that cannot be recovered must not keep the daemon from starting.
      await this.recoverOne(inst).catch((err: unknown) => {
        this.ctx.log.error({ instanceId: inst.id, err: (err as Error).message }, "could not recover the instance after a restart");
      });
    }
    this.purgeTerminated();
  }

  private async recoverOne(inst: Instance): Promise<void> {
    if (inst.state === "shutting-down") {
      await this.finishTermination(inst.id);
      return;
    }
    if (!liveStates.includes(inst.state)) return;
    const vm = await this.ctx.hypervisor.reattach(this.spec(inst), inst.runtime);
    if (vm && !inst.runtime?.pid) {
      // Started, but the daemon died before recording its pid: record it now.
      inst.runtime = { ...vm.runtime, consoleOffset: inst.runtime?.consoleOffset ?? 0 };
      this.save(inst);
    }
    if (vm) {
      this.ctx.log.info({ instanceId: inst.id, pid: vm.runtime.pid }, "reattached to running VM");
      await this.ctx.guestEndpoints.open(inst.id, this.spec(inst).guestSocket, this.guestHandlers(inst.id));
      const undone = await vm.undoInterruptedFreeze().catch((err: unknown) => [`could not check: ${(err as Error).message}`]);
      if (undone.length > 0) this.ctx.log.warn({ instanceId: inst.id, undone }, "a snapshot was interrupted while the VM was paused or frozen");
      if (inst.state === "pending" || inst.state === "rebooting") {
        // The daemon died between starting (or resetting) the VM and recording it: it runs.
        this.change(inst.id, "boot", { ...notReady, stateReason: null });
      }
      this.supervise(inst.id, vm, inst.runtime?.consoleOffset ?? 0);
      if (inst.state === "stopping") runDetached(this.ctx.log, `shutdown of ${inst.id}`, vm.shutdown(this.ctx.settings.shutdownTimeoutMs));
    } else if (inst.state === "pending" && !inst.runtime?.pid && (inst.runtime || (await fileSize(this.configDrivePath(inst.id))) > 0)) {
      // Interrupted after its config drive was written, or as it booted: boot it.
      this.bootInBackground(inst.id);
    } else if (inst.state === "pending" && !inst.runtime?.pid) {
      this.save({ ...inst, state: "shutting-down" });
      await this.finishTermination(inst.id, "The daemon stopped while the instance was being launched, before its VM started");
    } else {
      this.save({ ...inst, state: "stopped", runtime: null, ...notReady, stateReason: "The VM process ended while the daemon was down" });
    }
  }

  /** Stops supervising without touching the VMs: they keep running for the next daemon. */
  detach(): void {
    for (const w of this.readyWatchers.values()) w.abort();
    // takeAll() first, so that onVmExit ignores the closing QMP connections.
    for (const vm of this.vms.takeAll()) vm.release();
    runDetached(this.ctx.log, "closing guest endpoints", this.ctx.guestEndpoints.closeAll());
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
      const seed = seedFor(inst, image, publicKey, password);
      if (seed) await this.ctx.configDrive.build(this.configDrivePath(id), seed);
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
    if (this.get(id).state !== "pending") return;
    const offset = await fileSize(this.consoleLog(id));
    // Where this boot's console starts, recorded before QEMU runs (pid 0: not known yet),
    // so that a daemon dying before the pid is recorded finds the VM and its output again.
    // Read again with the write: a stop or terminate during the await above wins.
    const inst = this.ctx.catalog.transaction(() => {
      const now = this.get(id);
      return now.state === "pending" ? this.save({ ...now, runtime: { pid: 0, qmpSocket: "", sshPort: 0, consoleOffset: offset } }) : undefined;
    });
    if (!inst) return;
    const spec = this.spec(inst);
    // The endpoint listens before the guest can reach it.
    await this.ctx.guestEndpoints.open(id, spec.guestSocket, this.guestHandlers(id));
    const vm = await this.ctx.hypervisor.start(spec);
    if (this.get(id).state !== "pending") {
      await vm.kill(); // stopped or terminated while QEMU was starting
      await this.ctx.guestEndpoints.close(id);
      return;
    }
    // As in EC2: running once the VM runs; whether the guest is up is the status check.
    this.change(id, "boot", { runtime: { ...vm.runtime, consoleOffset: offset }, ...notReady, stateReason: null });
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
    runDetached(this.ctx.log, `closing the endpoint of ${id}`, this.ctx.guestEndpoints.close(id));
  }

  private supervise(id: string, vm: Vm, consoleOffset: number): void {
    this.vms.set(id, vm);
    runDetached(this.ctx.log, `supervision of ${id}`, vm.exited.then(() => this.onVmExit(id, vm)));
    const inst = this.get(id);
    if ((inst.state === "running" || inst.state === "pending") && inst.statusCheck !== "ok") {
      runDetached(this.ctx.log, `readiness watch of ${id}`, this.awaitReady(id, vm, consoleOffset));
    }
  }

  private async awaitReady(id: string, vm: Vm, offset: number): Promise<void> {
    const watcher = new AbortController();
    this.readyWatchers.get(id)?.abort();
    this.readyWatchers.set(id, watcher);
    const inst = this.get(id);
    // A phone-home counts only if it comes in this boot: one from before a reboot or restart says nothing now.
    const earlier = inst.phoneHome?.at ?? null;
    const result = await watchReadiness({
      vm,
      consoleLog: this.consoleLog(id),
      offset,
      timeoutMs: this.ctx.settings.bootTimeoutMs,
      signal: watcher.signal,
      phonedHome: () => (this.ctx.catalog.instances.get(id)?.phoneHome?.at ?? null) !== earlier,
      expectsPhoneHome: inst.phoneHome?.expected === true && !inst.phoneHome.at,
    });
    if (watcher.signal.aborted || this.vms.get(id) !== vm) return;
    await this.settle(id, vm, result);
    if (this.readyWatchers.get(id) === watcher) this.readyWatchers.delete(id);
  }

  /**
   * Records the status check. Ready: ok, and the SSH forward opens once the
   * guest has confirmed its admin password (or has none to set), never before.
   * Not ready by the deadline: impaired, with the reason; never silently pending.
   */
  private settle(id: string, vm: Vm, result: ReadinessResult): Promise<void> {
    // One at a time per instance: a phone-home during a settle must not open a second SSH forward.
    const next = (this.settling.get(id) ?? Promise.resolve()).then(() => this.settleNow(id, vm, result));
    const tail = next.catch(() => undefined);
    this.settling.set(id, tail);
    void tail.then(() => {
      if (this.settling.get(id) === tail) this.settling.delete(id);
    });
    return next;
  }

  private async settleNow(id: string, vm: Vm, result: ReadinessResult): Promise<void> {
    const inst = this.get(id);
    if (inst.state !== "running") return;
    const timeout = `${this.ctx.settings.bootTimeoutMs / 1000} s`;
    if (!result.via && !result.agentUp) {
      this.save({ ...inst, statusCheck: "impaired", statusReason: `The guest did not report ready within ${timeout}: no phone-home, no ready line on the console, no guest agent` });
      this.ctx.log.warn({ instanceId: id }, "instance impaired");
      return;
    }
    const statusReason = result.via ? null : `The guest agent answers, but the guest did not phone home within ${timeout} (cloud-init did not finish, or user-data replaced phone_home)`;
    // Only generalized launches take random or specified passwords (planPassword), and their seed carries it.
    const passwordPending = inst.adminPassword.mode === "random" || inst.adminPassword.mode === "specify";
    // The phone-home comes after cloud-init's chpasswd; the tiny guest also says so on its console.
    // Any phone-home of this instance confirms it: the guest phones home once, after chpasswd.
    const confirmed = passwordPending && !inst.adminPassword.setAt && (result.via === "phone-home" || result.passwordLine || inst.phoneHome?.at != null);
    const setAt = inst.adminPassword.setAt ?? (confirmed ? new Date().toISOString() : null);
    const sshPort = !passwordPending || setAt ? await vm.openSsh() : 0;
    const now = this.get(id);
    if (now.state !== "running") return;
    this.save({ ...now, statusCheck: "ok", statusReason, adminPassword: { ...now.adminPassword, setAt }, runtime: { ...(now.runtime ?? vm.runtime), sshPort } });
    if (confirmed) await this.wipePasswordHash(now);
    this.ctx.log.info({ instanceId: id, via: result.via ?? "agent", sshPort }, "instance ready");
  }

  /** Once the guest confirmed its password, the config drive no longer carries even its hash. */
  private async wipePasswordHash(inst: Instance): Promise<void> {
    const key = inst.keyName ? this.ctx.catalog.keyPairs.list().find((k) => k.name === inst.keyName) : undefined;
    const seed = seedFor(inst, this.images.get(inst.imageId), key?.publicKey ?? null, null);
    if (seed) await this.ctx.configDrive.build(this.configDrivePath(inst.id), seed);
  }

  private onVmExit(id: string, vm: Vm): void {
    if (this.vms.get(id) !== vm) return;
    this.vms.delete(id);
    this.readyWatchers.get(id)?.abort();
    this.readyWatchers.delete(id);
    const inst = this.ctx.catalog.instances.get(id);
    if (!inst || !liveStates.includes(inst.state)) return;
    // A stop, or a capture's power-off (rebooting with its reason), asked for the end: its reason stays.
    const asked = inst.state === "stopping" || (inst.state === "rebooting" && inst.stateReason !== null);
    const stateReason = asked ? inst.stateReason : "The guest shut down or its VM process ended";
    this.change(id, "stopped", { runtime: null, ...notReady, stateReason });
    runDetached(this.ctx.log, `closing the endpoint of ${id}`, this.ctx.guestEndpoints.close(id));
  }

  private async finishTermination(id: string, reason?: string): Promise<void> {
    this.readyWatchers.get(id)?.abort();
    const vm = this.vms.get(id);
    this.vms.delete(id);
    if (vm) await vm.kill();
    else {
      // Its VM is killed before its volumes go: with the boot volume gone, an earlier
      // termination killed it already and died before recording the end.
      const inst = this.get(id);
      const orphan = this.ctx.catalog.volumes.get(inst.bootVolumeId) ? await this.ctx.hypervisor.reattach(this.spec(inst), inst.runtime) : null;
      await orphan?.kill();
    }
    for (const v of this.ctx.catalog.volumes.list().filter((x) => x.instanceId === id)) {
      if (v.deleteOnTermination) {
        await rm(v.path, { force: true });
        this.ctx.catalog.volumes.delete(v.id);
      } else if (v.state === "creating") {
        await this.volumes.failUnfinished({ ...v, instanceId: null }, "The volume's disk was not finished when its instance was terminated");
      } else {
        this.ctx.catalog.volumes.update({ ...v, instanceId: null, state: "available" });
      }
    }
    const dir = this.instanceDir(id);
    for (const f of ["cidata.iso", "qmp.sock", "qga.sock", "guest.sock", "qemu.pid"]) await rm(join(dir, f), { force: true });
    await this.ctx.guestEndpoints.close(id);
    // Read after the awaits: what changed meanwhile (its tags) stays.
    const inst = this.get(id);
    this.save({ ...inst, state: "terminated", runtime: null, ...notReady, stateReason: reason ?? inst.stateReason });
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
      dataDisks: diskOrder(this.volumes.list({ instanceId: inst.id }))
        .filter((v) => v.kind === "data")
        .map((v) => v.path),
      configDrive: inst.seeded === false ? null : this.configDrivePath(inst.id),
      macAddress: inst.macAddress,
      smbiosUuid: inst.smbiosUuid,
      consoleLog: this.consoleLog(inst.id),
      runDir: this.instanceDir(inst.id),
      guestSocket: join(this.instanceDir(inst.id), "guest.sock"),
      // A Windows guest reaches its metadata service at 169.254.169.254 (cloudbase-init, the answer file).
      network: this.ctx.catalog.images.get(inst.imageId)?.osType === "windows" ? "link-local-metadata" : "default",
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

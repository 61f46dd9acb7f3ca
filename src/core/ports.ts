// Ports: what the services need from the outside world. Adapters implement them.
import type { AnswerFile } from "./unattend.ts";
import type { WindowsFacts, WindowsInspection } from "./windows.ts";
import type { AccessKey, Image, Instance, KeyPair, Operation, Snapshot, Volume, VmRuntime } from "./types.ts";

export interface Repo<T extends { id: string }> {
  get(id: string): T | undefined;
  list(): T[];
  /** The resources whose top-level string field equals value (by an index where the catalog has one). */
  findBy(field: "name", value: string): T[];
  insert(item: T): void;
  update(item: T): void;
  delete(id: string): void;
}

/** A resource changed state. */
export interface StateEvent {
  seq: number;
  time: string;
  resourceId: string;
  fromState: string | null;
  toState: string;
  reason: string | null;
}

export interface Catalog {
  instances: Repo<Instance>;
  images: Repo<Image>;
  keyPairs: Repo<KeyPair>;
  volumes: Repo<Volume>;
  snapshots: Repo<Snapshot>;
  operations: Repo<Operation>;
  accessKeys: Repo<AccessKey>;
  /** Runs fn in one transaction: all of its writes land, or none. */
  transaction<R>(fn: () => R): R;
  /** State changes after `afterSeq`, oldest first; every insert and state-changing update records one. */
  events(options: { afterSeq: number; resourceId?: string; limit: number }): StateEvent[];
  findTokenHash(hash: string): boolean;
  addTokenHash(hash: string, name: string): void;
  close(): void;
}

/** Secrets the daemon must read back (SigV4 needs the secret itself), kept sealed at rest. */
export interface SecretBox {
  seal(plain: string): string;
  /** The plaintext of what seal() returned; throws when it was altered or sealed with another key. */
  open(sealed: string): string;
}

export interface VmSpec {
  instanceId: string;
  vcpus: number;
  memoryMiB: number;
  bootDisk: string;
  dataDisks: string[];
  configDrive: string | null;
  macAddress: string;
  smbiosUuid: string;
  consoleLog: string;
  runDir: string;
  /** The unix socket QEMU forwards the guest's endpoint address to. */
  guestSocket: string;
  /**
   * "default": the endpoint at 10.0.2.100 (cloud-init's phone-home). "link-local-metadata":
   * the guest's network is 169.254.169.0/24 so that 169.254.169.254, where cloudbase-init
   * and EC2-style agents look, can be forwarded (Windows guests).
   */
  network: "default" | "link-local-metadata";
}

/** A running VM the daemon supervises. */
export interface Vm {
  readonly runtime: VmRuntime;
  /** Clean shutdown (ACPI), then a hard stop after timeoutMs. */
  shutdown(timeoutMs: number): Promise<void>;
  reset(): Promise<void>;
  /** Pauses the vCPUs; QEMU drains and flushes I/O, so the disks are crash-consistent. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Freezes the guest's filesystems through its agent; the thaw, or undefined when no agent answers. */
  freezeFilesystems(): Promise<(() => Promise<void>) | undefined>;
  kill(): Promise<void>;
  /**
   * After a daemon crash: resumes vCPUs and thaws filesystems that a snapshot
   * under way had paused or frozen; returns what it undid.
   */
  undoInterruptedFreeze(): Promise<string[]>;
  /** Whether the guest's QEMU guest agent answers a ping now. */
  agentAnswers(): Promise<boolean>;
  /** Forwards a free 127.0.0.1 port to the guest's SSH port; returns it. */
  openSsh(): Promise<number>;
  /** Lets go of the VM without stopping it, so a later daemon can reattach. */
  release(): void;
  /** Resolves when the VM process has ended. */
  readonly exited: Promise<void>;
}

export interface Hypervisor {
  readonly accelerator: string;
  start(spec: VmSpec): Promise<Vm>;
  /**
   * Finds a VM started by an earlier daemon, or undefined when it is gone.
   * Without a recorded runtime (the daemon died between starting the VM and
   * recording it), the VM is looked for in the instance's run dir.
   */
  reattach(spec: VmSpec, runtime: VmRuntime | null): Promise<Vm | undefined>;
}

export interface ConfigDriveContent {
  /** "nocloud": label cidata, for cloud-init. "config-2": OpenStack's, for cloudbase-init (Windows). */
  format: "nocloud" | "config-2";
  instanceId: string;
  hostname: string | null;
  publicKeys: string[];
  /** The key pair's name, for config-2's public_keys map (absent: numbered). */
  keyName?: string | null;
  userData: string | null;
  /** The default user's new password as a crypt(3) SHA-512 hash; never the plaintext. */
  password: { user: string; hash: string } | null;
  /** The NIC's MAC: network-config matches the interface by it. */
  macAddress: string;
  /** Where the guest phones home when cloud-init has finished (vendor-data), or null. */
  phoneHomeUrl: string | null;
  /** The answer file, validated; rendered as unattend.xml at the root of a config-2 drive. Null for none (and for nocloud). */
  answerFile: AnswerFile | null;
}

/** Offline work on a guest disk (libguestfs). */
export interface GuestTools {
  /** Removes machine identity and secrets from a qcow2, in the spirit of waagent -deprovision. */
  generalize(disk: string, options: { removeUser: string | null }): Promise<void>;
  /** What a generalized disk must not hold; an empty list when clean. */
  findLeftovers(disk: string): Promise<string[]>;
}

/** Offline work on a Windows disk (libguestfs inspection, hivex on its hives). */
export interface WindowsTools {
  /**
   * What inspection and the hives say about each disk, in one appliance launch, read-only.
   * The format is given, never probed. Null: no Windows root found on that disk.
   */
  inspect(disks: Array<{ file: string; format: string }>): Promise<Array<{ windows: WindowsInspection | null; facts: WindowsFacts | null }>>;
  /** Deletes answer files left in Panther (they outrank ours) on a qcow2; returns the guest paths that went. */
  removeLeftoverAnswerFiles(disk: string): Promise<string[]>;
  /**
   * The offline part of generalizing a qcow2: the BeforeSysprep RDP lock
   * (fDenyTSConnections = 1 in the current control set) and the Panther leftovers gone.
   */
  generalize(disk: string): Promise<void>;
}

/** What a guest told the platform over its own endpoint. */
export type GuestReport =
  | {
      kind: "phone-home";
      /** The instance id the guest says it is; the endpoint serves one instance, so this is only checked. */
      claimedInstanceId: string | null;
      hostname: string | null;
    }
  /** cloudbase-init's POST: base64 of the password RSA-encrypted with the instance's key (checked: base64, at most 4096 chars). */
  | { kind: "password"; passwordData: string }
  /** Our answer file's confirmation that the admin password is set. */
  | { kind: "password-set" };

/** What the OpenStack metadata service tells a guest (meta_data.json, user_data). */
export interface GuestMetadata {
  uuid: string;
  hostname: string | null;
  /** Key name to OpenSSH public key; cloudbase-init encrypts the password with the first. */
  publicKeys: Record<string, string>;
  userData: string | null;
}

/** What an instance's endpoint asks the daemon, and tells it. */
export interface GuestHandlers {
  onReport(report: GuestReport): void;
  /** The plaintext admin password to serve once (the service wipes it after), or null: 404. */
  adminPassword(): string | null;
  metadata(): GuestMetadata;
}

/** Per-instance endpoints that a guest reaches from inside its VM (QEMU guestfwd to a unix socket). */
export interface GuestEndpoints {
  /** Serves this instance's guest on socketPath, with these handlers only: the socket is its identity. */
  open(instanceId: string, socketPath: string, handlers: GuestHandlers): Promise<void>;
  close(instanceId: string): Promise<void>;
  closeAll(): Promise<void>;
}

export interface ConfigDrive {
  /** Writes a NoCloud (label cidata) or an OpenStack config-2 ISO to path, as content.format says. */
  build(path: string, content: ConfigDriveContent): Promise<void>;
}

export interface DiskInfo {
  format: string;
  virtualSize: number;
}

/** Content-addressed chunks (SHA-256 of the plain content). */
export interface ChunkStore {
  has(hash: string): Promise<boolean>;
  /** Stores a chunk unless present; returns the bytes written (0 when deduplicated). */
  put(hash: string, data: Buffer): Promise<number>;
  /** The chunk's content, verified against its hash; throws ChunkCorruptError. */
  get(hash: string): Promise<Buffer>;
  delete(hash: string): Promise<void>;
  list(): AsyncIterable<string>;
  /** Removes what interrupted writes left (only while no write runs); returns how many. */
  removePartial(): Promise<number>;
  /** Makes every chunk written so far durable (before a manifest names them). */
  flush(): Promise<void>;
  /** Bytes on disk. */
  usage(): Promise<number>;
}

export class ChunkCorruptError extends Error {
  constructor(
    readonly hash: string,
    readonly reason: string,
  ) {
    super(`chunk ${hash} is corrupt: ${reason}`);
    this.name = "ChunkCorruptError";
  }
}

export class ChunkMissingError extends Error {
  constructor(readonly hash: string) {
    super(`chunk ${hash} is missing`);
    this.name = "ChunkMissingError";
  }
}

export interface ManifestStore {
  put(snapshotId: string, data: Buffer): Promise<void>;
  get(snapshotId: string): Promise<Buffer | undefined>;
  delete(snapshotId: string): Promise<void>;
}

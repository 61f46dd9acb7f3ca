import type { AccessKeyId, ImageId, InstanceId, KeyPairId, OperationId, ReservationId, SnapshotId, VolumeId } from "./ids.ts";
import type { InstanceState } from "./instance-state.ts";
import type { WindowsInspection } from "./windows.ts";

export type OsType = "linux" | "windows";
export type OsState = "generalized" | "specialized";
export type ImageState = "pending" | "available" | "failed" | "deregistered";
export type Tags = Record<string, string>;

/** Which snapshot becomes which disk of an instance launched from an image. */
export interface BlockDeviceMapping {
  deviceName: string;
  snapshotId: SnapshotId;
  volumeSize: number;
  deleteOnTermination: boolean;
}

export type SnapshotState = "pending" | "completed" | "error";

export interface Snapshot {
  id: SnapshotId;
  volumeId: VolumeId | null;
  parentId: SnapshotId | null;
  state: SnapshotState;
  stateReason: string | null;
  description: string;
  volumeSize: number;
  /**
   * fs-frozen: a running VM whose guest agent froze its filesystems; crash-consistent:
   * a running VM paused for the read; clean: the disk was not in use.
   */
  consistency: "fs-frozen" | "crash-consistent" | "clean";
  progress: number;
  bytesRead: number;
  bytesStored: number;
  tags: Tags;
  createdAt: string;
}

export interface Image {
  id: ImageId;
  name: string;
  description: string;
  state: ImageState;
  stateReason: string | null;
  osType: OsType;
  osState: OsState;
  architecture: "x86_64";
  rootDeviceName: string;
  defaultUser: string;
  virtualSize: number;
  sourceFormat: string | null;
  blockDeviceMappings: BlockDeviceMapping[];
  /** The instance it was captured from, if any. */
  sourceInstanceId: InstanceId | null;
  /** The MAC of the instance a specialized image was captured from: its copies keep it, with its network config. */
  sourceMacAddress?: string | null;
  /** How the disks were read at capture: clean (stopped), crash-consistent, or filesystems frozen by the guest agent. */
  consistency: "clean" | "crash-consistent" | "fs-frozen" | null;
  /** The caller's idempotency token of the call that made it (EC2 CopyImage ClientToken), if any. */
  clientToken?: string | null;
  /** What libguestfs inspection found on a Windows root disk (null: not found, or not Windows). */
  windows?: WindowsInspection | null;
  /** Generalizations (Sysprep runs) in this image's lineage, counted by imagesmith: Sysprep stops at 1001. */
  generalizations?: number;
  /**
   * OCI's choice for a generalized Windows image: general recreates the default user with a
   * new random password at each launch (instance get-credentials); custom keeps the user and its password.
   */
  imageType?: "general" | "custom" | null;
  tags: Tags;
  createdAt: string;
}

export interface KeyPair {
  id: KeyPairId;
  name: string;
  type: "rsa" | "ed25519";
  publicKey: string;
  fingerprint: string;
  createdAt: string;
}

/**
 * An access key for the EC2 endpoint (AWS Signature V4). SigV4 needs the
 * secret itself, so it is kept sealed by the SecretBox port, never in plain;
 * the sealed form never leaves the daemon.
 */
export interface AccessKey {
  /** The access key id: AKIA and 16 base32 characters. */
  id: AccessKeyId;
  sealedSecret: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export type VolumeState = "creating" | "available" | "in-use" | "error";

export interface Volume {
  id: VolumeId;
  state: VolumeState;
  stateReason: string | null;
  /** boot: the instance's root disk; data: any other. */
  kind: "boot" | "data";
  instanceId: InstanceId | null;
  /** The snapshot whose cached base this volume's qcow2 overlays; null for a standalone disk. */
  baseSnapshotId: SnapshotId | null;
  size: number;
  deleteOnTermination: boolean;
  path: string;
  /** The caller's idempotency token of the call that made it (EC2 CreateVolume ClientToken), if any. */
  clientToken?: string | null;
  tags: Tags;
  createdAt: string;
}

/** Where a live VM can be found again after a daemon restart. */
export interface VmRuntime {
  pid: number;
  qmpSocket: string;
  sshPort: number;
  /** Where this boot's output starts in the console log. */
  consoleOffset?: number;
}

/** EC2Launch's modes: Random, Specify, Keep (DoNothing: none). */
export type AdminPasswordMode = "random" | "specify" | "keep" | "none";

export interface AdminPassword {
  mode: AdminPasswordMode;
  /** random only: the password encrypted with the key pair's RSA key, PKCS#1 v1.5, base64 (EC2 GetPasswordData). */
  passwordData: string | null;
  /** When the guest reported the password set. */
  setAt: string | null;
  /**
   * Windows: the password sealed by the SecretBox for the guest's answer file to fetch from
   * its own endpoint. Specify: wiped once the guest reports it set. Random on an OCI general
   * image: kept sealed, for get-credentials.
   */
  sealedForGuest?: string | null;
}

/**
 * EC2's instance status check, apart from the state: initializing while the
 * guest boots, ok once it is ready, impaired (with a reason) when it is not
 * within the boot timeout.
 */
export type StatusCheck = "initializing" | "ok" | "impaired";

/** What a launch may choose in its answer file; unset: UTC, en-US, no CopyProfile. */
export interface WindowsLaunchSettings {
  timeZone?: string;
  locale?: string;
  copyProfile?: boolean;
  registeredOrganization?: string;
  registeredOwner?: string;
}

export interface Instance {
  id: InstanceId;
  /** The run() call that launched it; the instances of one call share it (EC2's reservation). */
  reservationId: ReservationId;
  /** The caller's idempotency token of that call (EC2 RunInstances ClientToken), if any. */
  clientToken: string | null;
  imageId: ImageId;
  instanceType: string;
  vcpus: number;
  memoryMiB: number;
  state: InstanceState;
  stateReason: string | null;
  keyName: string | null;
  hostname: string;
  macAddress: string;
  smbiosUuid: string;
  bootVolumeId: VolumeId;
  userData: string | null;
  /** A launch of a generalized Windows image: the answer file's settings the caller chose (docs/windows.md). */
  windowsSettings?: WindowsLaunchSettings | null;
  statusCheck: StatusCheck;
  statusReason: string | null;
  /** Whether this launch's seed asks the guest to phone home once (a fresh generalized launch), and when it did. */
  phoneHome: { expected: boolean; at: string | null };
  /** Whether the instance boots with a NoCloud seed; a specialized image with no source instance gets none. */
  seeded: boolean;
  adminPassword: AdminPassword;
  runtime: VmRuntime | null;
  launchedAt: string;
  tags: Tags;
}

export type OperationState = "running" | "succeeded" | "failed";

export interface Operation {
  id: OperationId;
  kind: string;
  state: OperationState;
  progress: number;
  message: string;
  targetId: string | null;
  error: { code: string; message: string } | null;
  result: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
}

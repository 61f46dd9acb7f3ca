import type { ImageId, InstanceId, KeyPairId, OperationId, VolumeId } from "./ids.ts";
import type { InstanceState } from "./instance-state.ts";

export type OsType = "linux" | "windows";
export type OsState = "generalized" | "specialized";
export type ImageState = "pending" | "available" | "failed" | "deregistered";
export type Tags = Record<string, string>;

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

export interface Volume {
  id: VolumeId;
  instanceId: InstanceId | null;
  imageId: ImageId | null;
  size: number;
  deleteOnTermination: boolean;
  path: string;
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

export interface Instance {
  id: InstanceId;
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
  ready: boolean;
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
  createdAt: string;
  updatedAt: string;
}

import { join } from "node:path";
import type { Catalog, ChunkStore, ConfigDrive, GuestEndpoints, GuestTools, Hypervisor, WindowsTools, ManifestStore, SecretBox } from "../core/ports.ts";

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface Settings {
  dataDir: string;
  /** How long a guest may take from power-on to its ready line. */
  bootTimeoutMs: number;
  /** How long a clean (ACPI) shutdown may take before a hard stop. */
  shutdownTimeoutMs: number;
  /** What instances may reserve on this host, in all. */
  capacity: { vcpus: number; memoryMiB: number };
  /** The largest virtual size of a disk: an upload, an image or a volume (bytes). */
  maxVolumeSize: number;
  /** The host cache of materialized image bases is evicted least-recently-used above this (bytes). */
  cacheMaxBytes: number;
  /** A finished export file is removed this long after it was written. */
  exportTtlMs: number;
}

/** Everything a use case may touch, handed in by the daemon at start-up. */
export interface ServiceContext {
  catalog: Catalog;
  hypervisor: Hypervisor;
  configDrive: ConfigDrive;
  guestEndpoints: GuestEndpoints;
  guestTools: GuestTools;
  windowsTools: WindowsTools;
  chunks: ChunkStore;
  manifests: ManifestStore;
  secrets: SecretBox;
  settings: Settings;
  log: Logger;
}

export const paths = {
  store: (dataDir: string) => join(dataDir, "store"),
  cache: (dataDir: string) => join(dataDir, "cache"),
  exports: (dataDir: string) => join(dataDir, "exports"),
  volume: (dataDir: string, id: string) => join(dataDir, "volumes", `${id}.qcow2`),
  instanceDir: (dataDir: string, id: string) => join(dataDir, "instances", id),
  uploads: (dataDir: string) => join(dataDir, "tmp"),
};

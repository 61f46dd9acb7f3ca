// Services on a real SQLite catalog in a temp dir, with no hypervisor, guest
// tools or config drive behind them: for unit tests of what needs no VM or disk.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteCatalog } from "../src/adapters/catalog/sqlite-catalog.ts";
import { MemoryChunkStore } from "../src/adapters/chunkstore/memory-chunk-store.ts";
import { FileSecretBox } from "../src/adapters/crypto/secret-box.ts";
import type { ImageId, InstanceId, ReservationId, SnapshotId, VolumeId } from "../src/core/ids.ts";
import type { Hypervisor, ManifestStore } from "../src/core/ports.ts";
import type { Image, Instance, Snapshot, Volume } from "../src/core/types.ts";
import { Services } from "../src/services/services.ts";

const offline = (what: string) => () => Promise.reject(new Error(`${what} is not available offline`));

export async function offlineServices(options: { reattach?: Hypervisor["reattach"] } = {}): Promise<{ services: Services; catalog: SqliteCatalog; close(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), "imagesmith-offline-"));
  const catalog = new SqliteCatalog(join(dataDir, "catalog.db"));
  const manifests = new Map<string, Buffer>();
  const manifestStore: ManifestStore = {
    put: async (id, data) => void manifests.set(id, data),
    get: async (id) => manifests.get(id),
    delete: async (id) => void manifests.delete(id),
  };
  const services = new Services({
    catalog,
    hypervisor: { accelerator: "none", start: offline("a hypervisor"), reattach: options.reattach ?? (async () => undefined) },
    configDrive: { build: offline("a config drive") },
    guestEndpoints: { open: async () => undefined, close: async () => undefined, closeAll: async () => undefined },
    guestTools: { generalize: offline("guest tools"), findLeftovers: offline("guest tools") },
    windowsTools: { inspect: offline("Windows tools"), removeLeftoverAnswerFiles: offline("Windows tools"), generalize: offline("Windows tools") },
    chunks: new MemoryChunkStore(),
    manifests: manifestStore,
    secrets: await FileSecretBox.open(dataDir),
    settings: {
      dataDir,
      bootTimeoutMs: 60_000,
      shutdownTimeoutMs: 10_000,
      capacity: { vcpus: 8, memoryMiB: 8192 },
      maxVolumeSize: 1024 ** 4,
      cacheMaxBytes: 1024 ** 3,
      exportTtlMs: 60_000,
    },
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  return {
    services,
    catalog,
    close: async () => {
      catalog.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Records as the services write them, with only what a test cares about given. */
export const records = {
  snapshot: (id: string, fields: Partial<Snapshot> = {}): Snapshot => ({
    id: id as SnapshotId,
    volumeId: null,
    parentId: null,
    state: "completed",
    stateReason: null,
    description: "",
    volumeSize: 1 << 20,
    consistency: "clean",
    progress: 100,
    bytesRead: 0,
    bytesStored: 0,
    tags: {},
    createdAt: new Date().toISOString(),
    ...fields,
  }),
  image: (id: string, fields: Partial<Image> = {}): Image => ({
    id: id as ImageId,
    name: id,
    description: "",
    state: "available",
    stateReason: null,
    osType: "linux",
    osState: "generalized",
    architecture: "x86_64",
    rootDeviceName: "/dev/vda",
    defaultUser: "root",
    virtualSize: 1 << 20,
    sourceFormat: "qcow2",
    blockDeviceMappings: [],
    sourceInstanceId: null,
    consistency: "clean",
    tags: {},
    createdAt: new Date().toISOString(),
    ...fields,
  }),
  volume: (id: string, fields: Partial<Volume> = {}): Volume => ({
    id: id as VolumeId,
    state: "available",
    stateReason: null,
    kind: "data",
    instanceId: null,
    baseSnapshotId: null,
    size: 1 << 20,
    deleteOnTermination: false,
    path: `/nonexistent/${id}.qcow2`,
    tags: {},
    createdAt: new Date().toISOString(),
    ...fields,
  }),
  instance: (id: string, fields: Partial<Instance> = {}): Instance => ({
    id: id as InstanceId,
    reservationId: `r-${id.slice(2)}` as ReservationId,
    clientToken: null,
    imageId: "ami-00000000000000000" as ImageId,
    instanceType: "is.nano",
    vcpus: 1,
    memoryMiB: 256,
    state: "running",
    stateReason: null,
    keyName: null,
    hostname: id,
    macAddress: "52:54:00:00:00:01",
    smbiosUuid: "00000000-0000-0000-0000-000000000000",
    bootVolumeId: "vol-00000000000000000" as VolumeId,
    userData: null,
    statusCheck: "initializing",
    statusReason: null,
    phoneHome: { expected: false, at: null },
    seeded: true,
    adminPassword: { mode: "none", passwordData: null, setAt: null },
    runtime: null,
    launchedAt: new Date().toISOString(),
    tags: {},
    ...fields,
  }),
};

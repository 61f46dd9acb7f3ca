// The typed API client: the only thing the CLI (and later the console) use
// to talk to the daemon.
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import type {
  AccessKeyCreatedWire,
  AccessKeyWire,
  ImageWire,
  ImagesImportQuery,
  ImagesListQuery,
  InstancesListQuery,
  InstancesPost,
  InstanceWire,
  KeyPairWire,
  OperationWire,
  SnapshotWire,
  VolumesPost,
  VolumeWire,
  ImageExportPost,
  ImagesPost,
  ImagesRegisterPost,
  ImageCopyPost,
  DeregisterWire,
  StateEventWire,
  TagDescriptionWire,
  TagsDeletePost,
} from "../api/schemas.ts";

export type Image = ImageWire;
export type Instance = InstanceWire;
export type KeyPair = KeyPairWire;
export type AccessKey = AccessKeyWire;
export type AccessKeyCreated = AccessKeyCreatedWire;
export type Operation = OperationWire;
export type Snapshot = SnapshotWire;
export type Volume = VolumeWire;
export type TagDescription = TagDescriptionWire;
/** What `instance wait` waits for: a state, or the guest being ready (EC2's instance-status-ok). */
export type InstanceWaitState = Instance["state"] | "ready" | "status-ok";

export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Query = Record<string, string | number | string[] | undefined>;

export class Client {
  constructor(
    private readonly endpoint: string,
    private readonly token: string,
  ) {}

  private async request<T>(method: string, path: string, options: { query?: Query; json?: unknown; body?: RequestInit["body"]; headers?: Record<string, string> } = {}): Promise<T> {
    const url = new URL(path, this.endpoint);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) url.searchParams.append(k, String(one));
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, ...options.headers };
    let body = options.body;
    if (options.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, duplex: "half" } as RequestInit);
    } catch (err) {
      throw new ApiError("DAEMON_UNREACHABLE", 0, `Cannot reach the imagesmith daemon at ${this.endpoint}: ${(err as Error).cause ?? (err as Error).message}`);
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    const data = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const e = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(e?.code ?? "HTTP_ERROR", res.status, e?.message ?? `HTTP ${res.status}`);
    }
    return data as T;
  }

  health(): Promise<{ status: string; accelerator: string }> {
    return this.request("GET", "/v1/health");
  }

  createKeyPair(name: string): Promise<{ keyPair: KeyPair; privateKey?: string }> {
    return this.request("POST", "/v1/keypairs", { json: { name } });
  }

  async importKeyPair(name: string, publicKey: string): Promise<KeyPair> {
    return (await this.request<{ keyPair: KeyPair }>("POST", "/v1/keypairs", { json: { name, publicKey } })).keyPair;
  }

  async listKeyPairs(): Promise<KeyPair[]> {
    return (await this.request<{ keyPairs: KeyPair[] }>("GET", "/v1/keypairs")).keyPairs;
  }

  deleteKeyPair(name: string): Promise<void> {
    return this.request("DELETE", `/v1/keypairs/${encodeURIComponent(name)}`);
  }

  /** A new access key for the EC2 endpoint; its secret is in this answer only. */
  createAccessKey(): Promise<AccessKeyCreated> {
    return this.request("POST", "/v1/access-keys");
  }

  async listAccessKeys(): Promise<AccessKey[]> {
    return (await this.request<{ accessKeys: AccessKey[] }>("GET", "/v1/access-keys")).accessKeys;
  }

  deleteAccessKey(id: string): Promise<void> {
    return this.request("DELETE", `/v1/access-keys/${encodeURIComponent(id)}`);
  }

  /** Uploads a disk file; the image is pending until the operation ends. */
  async importImage(file: string, query: ImagesImportQuery): Promise<{ image: Image; operation: Operation }> {
    const size = (await stat(file)).size;
    return this.request("POST", "/v1/images/import", {
      query,
      // Read in 4 MiB pieces and handed to fetch as an async iterable: a web stream of the default
      // 64 KiB pieces halved the upload's throughput.
      body: createReadStream(file, { highWaterMark: 4 << 20 }) as unknown as ReadableStream,
      headers: { "content-type": "application/octet-stream", "content-length": String(size) },
    });
  }

  async listImages(query: ImagesListQuery = {}): Promise<Image[]> {
    return (await this.request<{ images: Image[] }>("GET", "/v1/images", { query })).images;
  }

  getImage(id: string): Promise<Image> {
    return this.request("GET", `/v1/images/${encodeURIComponent(id)}`);
  }

  async runInstances(req: InstancesPost): Promise<Instance[]> {
    return (await this.request<{ instances: Instance[] }>("POST", "/v1/instances", { json: req })).instances;
  }

  async listInstances(query: InstancesListQuery = {}): Promise<Instance[]> {
    return (await this.request<{ instances: Instance[] }>("GET", "/v1/instances", { query })).instances;
  }

  getInstance(id: string): Promise<Instance> {
    return this.request("GET", `/v1/instances/${encodeURIComponent(id)}`);
  }

  instanceAction(id: string, action: "stop" | "start" | "reboot" | "terminate" | "deallocate" | "generalize"): Promise<Instance> {
    return this.request("POST", `/v1/instances/${encodeURIComponent(id)}/${action}`);
  }

  async consoleOutput(id: string): Promise<string> {
    return (await this.request<{ output: string }>("GET", `/v1/instances/${encodeURIComponent(id)}/console`)).output;
  }

  createImage(req: ImagesPost): Promise<{ image: Image; operation: Operation }> {
    return this.request("POST", "/v1/images", { json: req });
  }

  registerImage(req: ImagesRegisterPost): Promise<Image> {
    return this.request("POST", "/v1/images/register", { json: req });
  }

  /** A copy of an available image under a new name, available at once (EC2 CopyImage). */
  copyImage(id: string, req: ImageCopyPost): Promise<Image> {
    return this.request("POST", `/v1/images/${encodeURIComponent(id)}/copy`, { json: req });
  }

  deregisterImage(id: string, deleteSnapshots: boolean): Promise<DeregisterWire> {
    return this.request("POST", `/v1/images/${encodeURIComponent(id)}/deregister`, { json: { deleteSnapshots } });
  }

  async passwordData(id: string): Promise<{ instanceId: string; passwordData: string; timestamp: string | null }> {
    return this.request("GET", `/v1/instances/${encodeURIComponent(id)}/password-data`);
  }

  /** OCI's GetInstanceDefaultCredentials: an instance of a general Windows image. */
  async credentials(id: string): Promise<{ instanceId: string; username: string; password: string }> {
    return this.request("GET", `/v1/instances/${encodeURIComponent(id)}/credentials`);
  }

  /** The Sysprep preflight of a Windows image or a stopped instance's disk: an operation whose result lists the findings. */
  preflight(id: string, fix: boolean): Promise<Operation> {
    return this.request("POST", `/v1/images/${encodeURIComponent(id)}/preflight`, { json: { fix } });
  }

  exportImage(id: string, format: ImageExportPost["format"]): Promise<Operation> {
    return this.request("POST", `/v1/images/${encodeURIComponent(id)}/export`, { json: { format } });
  }

  /** Downloads an export operation's file to `out` (written to a temp name, then renamed). */
  async download(opId: string, out: string): Promise<void> {
    const res = await fetch(new URL(`/v1/operations/${encodeURIComponent(opId)}/download`, this.endpoint), {
      headers: { authorization: `Bearer ${this.token}` },
    });
    if (!res.ok || !res.body) {
      const e = ((await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } }).error;
      throw new ApiError(e?.code ?? "HTTP_ERROR", res.status, e?.message ?? `HTTP ${res.status}`);
    }
    try {
      await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), createWriteStream(`${out}.part`));
      await rename(`${out}.part`, out);
    } catch (err) {
      await rm(`${out}.part`, { force: true });
      throw err;
    }
  }

  createSnapshot(req: { volumeId: string; description?: string; tags?: Record<string, string> }): Promise<{ snapshot: Snapshot; operation: Operation }> {
    return this.request("POST", "/v1/snapshots", { json: req });
  }

  async listSnapshots(): Promise<Snapshot[]> {
    return (await this.request<{ snapshots: Snapshot[] }>("GET", "/v1/snapshots")).snapshots;
  }

  getSnapshot(id: string): Promise<Snapshot> {
    return this.request("GET", `/v1/snapshots/${encodeURIComponent(id)}`);
  }

  deleteSnapshot(id: string): Promise<void> {
    return this.request("DELETE", `/v1/snapshots/${encodeURIComponent(id)}`);
  }

  createVolume(req: VolumesPost): Promise<Volume> {
    return this.request("POST", "/v1/volumes", { json: req });
  }

  async listVolumes(query: { instanceId?: string; state?: Volume["state"] } = {}): Promise<Volume[]> {
    return (await this.request<{ volumes: Volume[] }>("GET", "/v1/volumes", { query })).volumes;
  }

  getVolume(id: string): Promise<Volume> {
    return this.request("GET", `/v1/volumes/${encodeURIComponent(id)}`);
  }

  deleteVolume(id: string): Promise<void> {
    return this.request("DELETE", `/v1/volumes/${encodeURIComponent(id)}`);
  }

  attachVolume(id: string, instanceId: string): Promise<Volume> {
    return this.request("POST", `/v1/volumes/${encodeURIComponent(id)}/attach`, { json: { instanceId } });
  }

  detachVolume(id: string): Promise<Volume> {
    return this.request("POST", `/v1/volumes/${encodeURIComponent(id)}/detach`);
  }

  /** Sets tags on images, instances, volumes and snapshots: on all of them, or none. */
  createTags(resourceIds: string[], tags: Record<string, string>): Promise<void> {
    return this.request("POST", "/v1/tags", { json: { resourceIds, tags } });
  }

  /** Removes tags (a tag with a value only if it has that value); without tags, every tag the user set. */
  deleteTags(resourceIds: string[], tags?: TagsDeletePost["tags"]): Promise<void> {
    return this.request("POST", "/v1/tags/delete", { json: { resourceIds, tags } });
  }

  async listTags(): Promise<TagDescription[]> {
    return (await this.request<{ tags: TagDescription[] }>("GET", "/v1/tags")).tags;
  }

  storageOperation(kind: "gc" | "scrub"): Promise<Operation> {
    return this.request("POST", `/v1/storage/${kind}`);
  }

  events(query: { after?: number; resourceId?: string; wait?: number } = {}): Promise<{ events: StateEventWire[]; next: number }> {
    return this.request("GET", "/v1/events", { query });
  }

  async listOperations(): Promise<Operation[]> {
    return (await this.request<{ operations: Operation[] }>("GET", "/v1/operations")).operations;
  }

  getOperation(id: string, waitSeconds = 0): Promise<Operation> {
    return this.request("GET", `/v1/operations/${encodeURIComponent(id)}`, { query: { wait: waitSeconds || undefined } });
  }

  /** Polls until the operation ends, reporting progress on the way. */
  async waitOperation(id: string, onProgress?: (op: Operation) => void): Promise<Operation> {
    for (;;) {
      const op = await this.getOperation(id, 2);
      onProgress?.(op);
      if (op.state !== "running") return op;
    }
  }

  /**
   * Polls instances until each is in `state`, or, for "ready" (or its EC2
   * name "status-ok"), running with its status check ok. Fails as soon as
   * one can no longer get there: terminated, or impaired when waiting for ready.
   */
  async waitInstances(ids: string[], state: InstanceWaitState, options: { timeoutMs: number; onProgress?: (done: number, all: Instance[]) => void }): Promise<Instance[]> {
    const deadline = Date.now() + options.timeoutMs;
    const wantsReady = state === "ready" || state === "status-ok";
    const reached = (i: Instance) => (wantsReady ? i.state === "running" && i.statusCheck === "ok" : i.state === state);
    for (;;) {
      const all = await Promise.all(ids.map((id) => this.getInstance(id)));
      const done = all.filter(reached).length;
      options.onProgress?.(done, all);
      if (done === ids.length) return all;
      const dead = all.find((i) => i.state === "terminated" && state !== "terminated");
      if (dead) throw new ApiError("WAIT_FAILED", 0, `Instance ${dead.id} is terminated: ${dead.stateReason ?? "no reason given"}`);
      const impaired = wantsReady ? all.find((i) => i.statusCheck === "impaired") : undefined;
      if (impaired) throw new ApiError("WAIT_FAILED", 0, `Instance ${impaired.id} is impaired: ${impaired.statusReason ?? "no reason given"}`);
      if (Date.now() > deadline) throw new ApiError("WAIT_TIMEOUT", 0, `Timed out waiting for ${ids.join(", ")} to be ${state}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

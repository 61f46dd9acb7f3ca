import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { convertDisk, createEmptyDisk } from "../adapters/images/qemu-img.ts";
import { extractRaw, mapExtents } from "../adapters/images/disk-layers.ts";
import { conflict, notFound } from "../core/errors.ts";
import { publicMessage } from "../core/public-message.ts";
import { newId, type SnapshotId, type VolumeId } from "../core/ids.ts";
import { chunkSize, decodeManifest, encodeManifest, presentChunks, presentCount, type Manifest } from "../core/manifest.ts";
import { ChunkCorruptError, ChunkMissingError } from "../core/ports.ts";
import { checkTags } from "../core/tag-rules.ts";
import type { Snapshot, Tags } from "../core/types.ts";
import { BaseCache } from "./base-cache.ts";
import { captureChunks, restoreChunks, type Range } from "./chunk-io.ts";
import { paths, type ServiceContext } from "./context.ts";
import { ensureFreeSpace } from "./free-space.ts";
import type { Operations } from "./operations.ts";
import { RwLock } from "./rw-lock.ts";

export interface CaptureSource {
  file: string;
  format: string;
  /** Capture only the qcow2 overlay's own layer on top of this snapshot's content. */
  parentId: SnapshotId | null;
  /** Runs the disk read while the writer (a running VM) is paused; returns the consistency. */
  freeze?: <T>(read: () => Promise<T>) => Promise<{ value: T; consistency: Snapshot["consistency"] }>;
  /** Without freeze: how the file was made consistent (a copy taken under a freeze says so); default clean. */
  consistency?: Snapshot["consistency"];
}

export interface ScrubReport {
  chunksChecked: number;
  corrupt: { snapshotId: string; offset: number; chunk: string; reason: string }[];
}

/** Snapshots: manifests of chunks in the chunk store, and their bases in the host cache. */
export class Snapshots {
  /** Captures share it; gc takes it alone. */
  readonly lock = new RwLock();
  private readonly materializing = new Map<string, Promise<string>>();
  /** Bases a caller reads without a volume over them (an export): never evicted meanwhile. */
  private readonly leases = new Map<string, number>();
  readonly cache: BaseCache;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly ops: Operations,
  ) {
    this.cache = new BaseCache(ctx);
  }

  get(id: string): Snapshot {
    const s = this.ctx.catalog.snapshots.get(id);
    if (!s) throw notFound("SNAPSHOT_NOT_FOUND", `Snapshot ${id} does not exist`);
    return s;
  }

  list(): Snapshot[] {
    return this.ctx.catalog.snapshots.list();
  }

  /** A new pending snapshot, not yet in the catalog; capture() fills it once inserted. */
  draft(options: { volumeId: VolumeId | null; parentId: SnapshotId | null; description?: string; tags?: Tags; volumeSize: number }): Snapshot {
    checkTags(options.tags ?? {});
    const snap: Snapshot = {
      id: newId<SnapshotId>("snapshot"),
      volumeId: options.volumeId,
      parentId: options.parentId,
      state: "pending",
      stateReason: null,
      description: options.description ?? "",
      volumeSize: options.volumeSize,
      consistency: "clean",
      progress: 0,
      bytesRead: 0,
      bytesStored: 0,
      tags: options.tags ?? {},
      createdAt: new Date().toISOString(),
    };
    return snap;
  }

  /**
   * Reads the source into chunks, then writes the manifest, then marks the
   * snapshot completed (docs/storage-format.md). A failure marks it error
   * and removes its manifest; chunks it wrote become garbage for gc.
   */
  async capture(snap: Snapshot, source: CaptureSource, onProgress: (pct: number) => void): Promise<Snapshot> {
    const tmp = join(paths.uploads(this.ctx.settings.dataDir), `${snap.id}.raw`);
    try {
      return await this.lock.shared(async () => {
        const parent = source.parentId ? await this.manifest(source.parentId) : null;
        const topOnly = parent !== null;
        // A whole raw disk is read where it is; anything else is first extracted to a sparse raw file.
        const inPlace = !topOnly && source.format === "raw";
        const raw = inPlace ? source.file : tmp;
        const read = async () => {
          const extents = await mapExtents(source.file, source.format);
          // Overlay: everything its own layer holds, data or explicit zeros. Whole disk: the data.
          const changed: Range[] = extents
            .filter((e) => (topOnly ? e.depth === 0 : e.data))
            .map((e) => ({ start: e.start, length: e.length, zero: !e.data }));
          const dataBytes = changed.reduce((n, r) => (r.zero ? n : n + r.length), 0);
          // Nothing to read (an empty disk, an overlay with no change): no extraction at all.
          if (!inPlace && dataBytes > 0) {
            await ensureFreeSpace(paths.uploads(this.ctx.settings.dataDir), dataBytes, `Snapshot ${snap.id}`);
            await extractRaw({ file: source.file, format: source.format, topOnly, out: tmp }, (p) => onProgress(p * 0.3));
          }
          return { changed, dataBytes };
        };
        const frozen = source.freeze ? await source.freeze(read) : { value: await read(), consistency: source.consistency ?? "clean" };
        const result = await captureChunks({
          raw: frozen.value.dataBytes > 0 ? raw : null,
          volumeSize: snap.volumeSize,
          chunkSize: parent?.chunkSize ?? chunkSize,
          changed: frozen.value.changed,
          parent,
          store: this.ctx.chunks,
          onProgress: (done, total) => onProgress(30 + (70 * done) / Math.max(total, 1)),
        });
        await this.ctx.chunks.flush();
        const manifest: Manifest = {
          snapshotId: snap.id,
          parentId: snap.parentId,
          volumeSize: snap.volumeSize,
          chunkSize: parent?.chunkSize ?? chunkSize,
          extents: result.extents,
        };
        await this.ctx.manifests.put(snap.id, encodeManifest(manifest));
        const done: Snapshot = {
          ...this.get(snap.id),
          state: "completed",
          progress: 100,
          consistency: frozen.consistency,
          bytesRead: result.bytesRead,
          bytesStored: result.bytesStored,
        };
        this.ctx.catalog.snapshots.update(done);
        return done;
      });
    } catch (err) {
      await this.ctx.manifests.delete(snap.id);
      this.ctx.catalog.snapshots.update({ ...this.get(snap.id), state: "error", stateReason: publicMessage(err) });
      throw err;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async manifest(id: string): Promise<Manifest> {
    const data = await this.ctx.manifests.get(id);
    if (!data) throw new Error(`The manifest of snapshot ${id} is missing`);
    return decodeManifest(data, id);
  }

  /**
   * The snapshot as a read-only qcow2 base in the host cache, made once per
   * host; a hit refreshes its use time. Afterwards the cache is brought back
   * under its cap, never evicting a base a volume uses or this one.
   */
  materialize(id: string, onProgress: (pct: number) => void = () => undefined): Promise<string> {
    const running = this.materializing.get(id);
    if (running) return running;
    const job = this.build(id, onProgress).finally(() => this.materializing.delete(id));
    this.materializing.set(id, job);
    return job.then(async (base) => {
      await this.cache.evict(new Set([id, ...this.materializing.keys(), ...this.leases.keys()])).catch((err: unknown) =>
        this.ctx.log.warn({ err: err instanceof Error ? err.message : String(err) }, "host cache eviction failed"),
      );
      return base;
    });
  }

  /** Runs fn on the snapshot's cached base, which stays in the cache until fn ends. */
  async withBase<T>(id: string, onProgress: (pct: number) => void, fn: (base: string) => Promise<T>): Promise<T> {
    this.leases.set(id, (this.leases.get(id) ?? 0) + 1);
    try {
      return await fn(await this.materialize(id, onProgress));
    } finally {
      const n = (this.leases.get(id) ?? 1) - 1;
      if (n > 0) this.leases.set(id, n);
      else this.leases.delete(id);
    }
  }

  private async build(id: string, onProgress: (pct: number) => void): Promise<string> {
    const base = this.cache.path(id);
    if (await this.cache.hit(id)) return base;
    const snap = this.get(id);
    if (snap.state !== "completed") throw conflict("SNAPSHOT_NOT_COMPLETED", `Snapshot ${id} is ${snap.state}`);
    await mkdir(this.cache.dir, { recursive: true });
    const raw = `${base}.raw`;
    const tmp = `${base}.part`;
    try {
      const manifest = await this.manifest(id);
      const bytes = presentCount(manifest) * manifest.chunkSize;
      if (bytes === 0) {
        // Nothing but zeros: an empty qcow2 of the volume's size, whatever the size.
        await createEmptyDisk(tmp, manifest.volumeSize);
      } else {
        // The sparse raw and the qcow2 made from it are on disk together for a moment.
        await ensureFreeSpace(this.cache.dir, 2 * bytes, `Materializing snapshot ${id}`);
        await restoreChunks({
          manifest,
          store: this.ctx.chunks,
          out: raw,
          onProgress: (done, total) => onProgress((80 * done) / Math.max(total, 1)),
          describe: (index, err) => this.chunkError(id, index * manifest.chunkSize, err),
        });
        await convertDisk({ from: raw, fromFormat: "raw", to: tmp, toFormat: "qcow2" }, (p) => onProgress(80 + p * 0.2));
      }
      await rename(tmp, base);
      return base;
    } finally {
      await rm(raw, { force: true });
      await rm(tmp, { force: true });
    }
  }

  /** Deletes a snapshot that nothing uses: manifest first, then the record (chunks go at gc). */
  async delete(id: string): Promise<void> {
    const snap = this.get(id);
    const image = this.ctx.catalog.images.list().find((i) => i.state !== "deregistered" && i.blockDeviceMappings.some((m) => m.snapshotId === id));
    if (image) throw conflict("SNAPSHOT_IN_USE", `Cannot delete snapshot ${id}: image ${image.id} uses it`);
    const volume = this.ctx.catalog.volumes.list().find((v) => v.baseSnapshotId === id);
    if (volume) throw conflict("SNAPSHOT_IN_USE", `Cannot delete snapshot ${id}: volume ${volume.id} is based on it`);
    const child = this.list().find((s) => s.parentId === id && s.state !== "error");
    if (child) throw conflict("SNAPSHOT_IN_USE", `Cannot delete snapshot ${id}: snapshot ${child.id} builds on it`);
    if (snap.state === "pending") throw conflict("SNAPSHOT_PENDING", `Cannot delete snapshot ${id}: it is still being taken`);
    await this.ctx.manifests.delete(id);
    this.ctx.catalog.snapshots.delete(id);
    await rm(this.cache.path(id), { force: true });
  }

  /** Deletes every chunk no manifest names, while no capture runs. */
  async gc(): Promise<{ chunksDeleted: number; partialRemoved: number; bytesBefore: number; bytesAfter: number }> {
    return this.lock.exclusive(async () => {
      const live = await this.referencedChunks();
      const bytesBefore = await this.ctx.chunks.usage();
      const partialRemoved = await this.ctx.chunks.removePartial();
      let chunksDeleted = 0;
      for await (const hash of this.ctx.chunks.list()) {
        if (live.has(hash)) continue;
        await this.ctx.chunks.delete(hash);
        chunksDeleted++;
      }
      return { chunksDeleted, partialRemoved, bytesBefore, bytesAfter: await this.ctx.chunks.usage() };
    });
  }

  /** Reads and verifies every chunk every snapshot names; reports failures by snapshot and offset. */
  async scrub(onProgress: (pct: number) => void = () => undefined): Promise<ScrubReport> {
    return this.lock.shared(async () => {
      const report: ScrubReport = { chunksChecked: 0, corrupt: [] };
      const bad = new Map<string, string>();
      const snaps = this.list().filter((s) => s.state === "completed");
      const manifests = await Promise.all(snaps.map((s) => this.manifest(s.id)));
      const all = new Set<string>();
      for (const m of manifests) for (const [, h] of presentChunks(m)) all.add(h);
      for (const hash of all) {
        await this.ctx.chunks.get(hash).catch((err: Error) => bad.set(hash, err.message));
        onProgress((100 * ++report.chunksChecked) / all.size);
      }
      for (const m of manifests) {
        if (bad.size === 0) break;
        for (const [i, h] of presentChunks(m)) {
          const reason = bad.get(h);
          if (reason) report.corrupt.push({ snapshotId: m.snapshotId, offset: i * m.chunkSize, chunk: h, reason });
        }
      }
      return report;
    });
  }

  /** After a restart: captures that were under way failed (their chunks become garbage); interrupted materializes leave nothing. */
  async recover(): Promise<void> {
    await this.cache.removeLeftovers();
    for (const s of this.list().filter((x) => x.state === "pending")) {
      await this.ctx.manifests.delete(s.id);
      this.ctx.catalog.snapshots.update({ ...s, state: "error", stateReason: "The daemon stopped while the snapshot was being taken" });
    }
  }

  private async referencedChunks(): Promise<Set<string>> {
    const live = new Set<string>();
    for (const s of this.list().filter((x) => x.state === "completed")) {
      for (const [, h] of presentChunks(await this.manifest(s.id))) live.add(h);
    }
    return live;
  }

  private chunkError(snapshotId: string, offset: number, err: Error): Error {
    if (err instanceof ChunkCorruptError || err instanceof ChunkMissingError) {
      return new Error(`Snapshot ${snapshotId} cannot be read at offset ${offset}: ${err.message}`);
    }
    return err;
  }

  /** Operation wrapper for gc and scrub. */
  runStorageOperation(kind: "storage-gc" | "storage-scrub") {
    const op = this.ops.create(kind, null, kind === "storage-gc" ? "Collecting garbage" : "Verifying every chunk");
    this.ops.runInBackground(op.id, async () =>
      kind === "storage-gc"
        ? { message: "Garbage collected", result: await this.gc() }
        : { message: "Scrub finished", result: { ...(await this.scrub((p) => this.ops.progress(op.id, p))) } },
    );
    return op;
  }
}

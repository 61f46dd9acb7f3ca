import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MemoryChunkStore } from "../adapters/chunkstore/memory-chunk-store.ts";
import { chunkMap, encodeManifest, type Manifest } from "../core/manifest.ts";
import { captureChunks, planChunks, restoreChunks, touchedChunks } from "./chunk-io.ts";

const cs = 4096;
const noProgress = () => undefined;
const TiB = 1024 ** 4;

describe("chunk capture and restore", () => {
  it("touchedChunks() splits ranges at chunk borders", () => {
    const t = touchedChunks([{ start: 4000, length: 200 }], cs);
    assert.deepEqual([...t], [[0, [{ start: 4000, length: 96 }]], [1, [{ start: 0, length: 104 }]]]);
  });

  it("planChunks() clears whole blocks of a zero range without visiting them and keeps its ragged ends", () => {
    const plan = planChunks([{ start: 100, length: 16 * TiB - 100, zero: true }], cs, 16 * TiB);
    assert.deepEqual(plan.cleared, [[1, (16 * TiB) / cs]]);
    assert.deepEqual([...plan.touched], [[0, [{ start: 100, length: cs - 100, zero: true }]]]);
  });

  it("a full capture stores no zero chunk and restores byte for byte", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-chunkio-"));
    const disk = Buffer.concat([randomBytes(cs), Buffer.alloc(cs), randomBytes(cs - 100)]);
    await writeFile(join(dir, "a.raw"), disk);
    const store = new MemoryChunkStore();
    const r = await captureChunks({ raw: join(dir, "a.raw"), volumeSize: disk.length, chunkSize: cs, changed: [{ start: 0, length: disk.length }], parent: null, store, onProgress: noProgress });
    assert.deepEqual(r.extents.map((e) => [e.start, e.hashes.length]), [[0, 1], [2, 1]]);
    assert.equal(store.chunks.size, 2);
    const manifest: Manifest = { snapshotId: "snap-1", parentId: null, volumeSize: disk.length, chunkSize: cs, extents: r.extents };
    await restoreChunks({ manifest, store, out: join(dir, "b.raw"), onProgress: noProgress, describe: (_i, e) => e });
    assert.deepEqual(await readFile(join(dir, "b.raw")), disk);
  });

  it("an incremental capture reads only the changed ranges and keeps the rest from the parent", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-chunkio-"));
    const base = randomBytes(cs * 4);
    await writeFile(join(dir, "base.raw"), base);
    const store = new MemoryChunkStore();
    const full = await captureChunks({ raw: join(dir, "base.raw"), volumeSize: base.length, chunkSize: cs, changed: [{ start: 0, length: base.length }], parent: null, store, onProgress: noProgress });
    const parent: Manifest = { snapshotId: "snap-1", parentId: null, volumeSize: base.length, chunkSize: cs, extents: full.extents };
    // The top layer: zeros except 100 changed bytes in chunk 2.
    const top = Buffer.alloc(base.length);
    const change = randomBytes(100);
    change.copy(top, 2 * cs + 10);
    await writeFile(join(dir, "top.raw"), top);
    const inc = await captureChunks({ raw: join(dir, "top.raw"), volumeSize: base.length, chunkSize: cs, changed: [{ start: 2 * cs + 10, length: 100 }], parent, store, onProgress: noProgress });
    assert.equal(inc.bytesRead, 100);
    const before = chunkMap(parent);
    const after = chunkMap({ extents: inc.extents });
    assert.deepEqual([...after.keys()], [0, 1, 2, 3]);
    assert.deepEqual([...after].filter(([i, h]) => before.get(i) !== h).map(([i]) => i), [2]);
    const expected = Buffer.from(base);
    change.copy(expected, 2 * cs + 10);
    const m: Manifest = { ...parent, snapshotId: "snap-2", extents: inc.extents };
    await restoreChunks({ manifest: m, store, out: join(dir, "out.raw"), onProgress: noProgress, describe: (_i, e) => e });
    assert.deepEqual(await readFile(join(dir, "out.raw")), expected);
  });

  it("captures sparse data as runs, restores the holes as holes, and zero ranges of an overlay drop the parent's chunks", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-chunkio-"));
    const size = 64 * cs;
    const disk = Buffer.alloc(size);
    randomBytes(3 * cs).copy(disk, 5 * cs);
    randomBytes(cs).copy(disk, 40 * cs);
    await writeFile(join(dir, "sparse.raw"), disk);
    // Puts that take a while, as on a disk: concurrent writers overlap.
    const store = new MemoryChunkStore();
    const put = store.put.bind(store);
    store.put = async (hash, data) => {
      await new Promise((r) => setTimeout(r, 5));
      return put(hash, data);
    };
    const changed = [{ start: 5 * cs, length: 3 * cs }, { start: 40 * cs, length: cs }];
    const r = await captureChunks({ raw: join(dir, "sparse.raw"), volumeSize: size, chunkSize: cs, changed, parent: null, store, onProgress: noProgress });
    assert.deepEqual(r.extents.map((e) => [e.start, e.hashes.length]), [[5, 3], [40, 1]]);
    assert.equal(r.bytesRead, 4 * cs);
    assert.equal(r.bytesStored, await store.usage(), "every chunk written is counted, though they are written concurrently");
    const parent: Manifest = { snapshotId: "snap-1", parentId: null, volumeSize: size, chunkSize: cs, extents: r.extents };
    await restoreChunks({ manifest: parent, store, out: join(dir, "back.raw"), onProgress: noProgress, describe: (_i, e) => e });
    assert.deepEqual(await readFile(join(dir, "back.raw")), disk);
    assert.ok((await stat(join(dir, "back.raw"))).blocks * 512 < size, "the restored file keeps its holes");
    // An overlay that zeroes blocks 6 to 40 (explicit zero clusters) and part of block 5: nothing is read.
    const inc = await captureChunks({ raw: null, volumeSize: size, chunkSize: cs, changed: [{ start: 5 * cs + 100, length: 36 * cs - 100, zero: true }], parent, store, onProgress: noProgress });
    assert.equal(inc.bytesRead, 0);
    assert.deepEqual(inc.extents.map((e) => [e.start, e.hashes.length]), [[5, 1]]);
    const expected = Buffer.alloc(size);
    disk.copy(expected, 5 * cs, 5 * cs, 5 * cs + 100);
    await restoreChunks({ manifest: { ...parent, extents: inc.extents }, store, out: join(dir, "inc.raw"), onProgress: noProgress, describe: (_i, e) => e });
    assert.deepEqual(await readFile(join(dir, "inc.raw")), expected);
  });

  it("captures a 16 TiB volume with a few chunks into a few runs, a manifest under 4 KiB, and no allocation that follows the disk size", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-chunkio-"));
    const chunk = 256 * 1024;
    const data = Buffer.alloc(4 * chunk);
    randomBytes(2 * chunk).copy(data, 0);
    randomBytes(chunk).copy(data, 3 * chunk);
    await writeFile(join(dir, "head.raw"), data);
    const store = new MemoryChunkStore();
    const heapBefore = process.memoryUsage().heapUsed;
    const r = await captureChunks({ raw: join(dir, "head.raw"), volumeSize: 16 * TiB, chunkSize: chunk, changed: [{ start: 0, length: 2 * chunk }, { start: 3 * chunk, length: chunk }], parent: null, store, onProgress: noProgress });
    // An overlay on it that zeroes the whole disk but its first block.
    const parent: Manifest = { snapshotId: "snap-00000000000000001", parentId: null, volumeSize: 16 * TiB, chunkSize: chunk, extents: r.extents };
    const inc = await captureChunks({ raw: null, volumeSize: 16 * TiB, chunkSize: chunk, changed: [{ start: chunk, length: 16 * TiB - chunk, zero: true }], parent, store, onProgress: noProgress });
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    assert.deepEqual(r.extents.map((e) => [e.start, e.hashes.length]), [[0, 2], [3, 1]]);
    assert.deepEqual(inc.extents.map((e) => [e.start, e.hashes.length]), [[0, 1]]);
    assert.ok(encodeManifest(parent).length < 4096, `the manifest is ${encodeManifest(parent).length} bytes`);
    // A dense array of 64 M entries would take 512 MiB.
    assert.ok(heapGrowth < 64 * 1024 * 1024, `the heap grew by ${heapGrowth} bytes`);
  });
});

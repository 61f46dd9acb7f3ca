import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MemoryChunkStore } from "../adapters/chunkstore/memory-chunk-store.ts";
import type { Manifest } from "../core/manifest.ts";
import { captureChunks, restoreChunks, touchedChunks } from "./chunk-io.ts";

const cs = 4096;
const noProgress = () => undefined;

describe("chunk capture and restore", () => {
  it("touchedChunks() splits ranges at chunk borders", () => {
    const t = touchedChunks([{ start: 4000, length: 200 }], cs);
    assert.deepEqual([...t], [[0, [{ start: 4000, length: 96 }]], [1, [{ start: 0, length: 104 }]]]);
  });

  it("a full capture stores no zero chunk and restores byte for byte", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-chunkio-"));
    const disk = Buffer.concat([randomBytes(cs), Buffer.alloc(cs), randomBytes(cs - 100)]);
    await writeFile(join(dir, "a.raw"), disk);
    const store = new MemoryChunkStore();
    const r = await captureChunks({ raw: join(dir, "a.raw"), volumeSize: disk.length, chunkSize: cs, changed: [{ start: 0, length: disk.length }], parent: null, store, onProgress: noProgress });
    assert.equal(r.chunks[1], null);
    assert.equal(store.chunks.size, 2);
    const manifest: Manifest = { snapshotId: "snap-1", parentId: null, volumeSize: disk.length, chunkSize: cs, chunks: r.chunks };
    await restoreChunks({ manifest, store, out: join(dir, "b.raw"), onProgress: noProgress, describe: (_i, e) => e });
    assert.deepEqual(await readFile(join(dir, "b.raw")), disk);
  });

  it("an incremental capture reads only the changed ranges and keeps the rest from the parent", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-chunkio-"));
    const base = randomBytes(cs * 4);
    await writeFile(join(dir, "base.raw"), base);
    const store = new MemoryChunkStore();
    const full = await captureChunks({ raw: join(dir, "base.raw"), volumeSize: base.length, chunkSize: cs, changed: [{ start: 0, length: base.length }], parent: null, store, onProgress: noProgress });
    const parent: Manifest = { snapshotId: "snap-1", parentId: null, volumeSize: base.length, chunkSize: cs, chunks: full.chunks };
    // The top layer: zeros except 100 changed bytes in chunk 2.
    const top = Buffer.alloc(base.length);
    const change = randomBytes(100);
    change.copy(top, 2 * cs + 10);
    await writeFile(join(dir, "top.raw"), top);
    const inc = await captureChunks({ raw: join(dir, "top.raw"), volumeSize: base.length, chunkSize: cs, changed: [{ start: 2 * cs + 10, length: 100 }], parent, store, onProgress: noProgress });
    assert.equal(inc.bytesRead, 100);
    assert.deepEqual(inc.chunks.filter((h, i) => h !== full.chunks[i]).length, 1);
    const expected = Buffer.from(base);
    change.copy(expected, 2 * cs + 10);
    const m: Manifest = { ...parent, snapshotId: "snap-2", chunks: inc.chunks };
    await restoreChunks({ manifest: m, store, out: join(dir, "out.raw"), onProgress: noProgress, describe: (_i, e) => e });
    assert.deepEqual(await readFile(join(dir, "out.raw")), expected);
  });
});

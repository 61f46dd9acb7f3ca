import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ApiError } from "../src/client/client.ts";
import { newId, type VolumeId } from "../src/core/ids.ts";
import { paths } from "../src/services/context.ts";
import { removeDir, sh, startTestDaemon, waitFor, type TestDaemon } from "./helpers.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const exists = (f: string) => stat(f).then(() => true, () => false);

describe("storage stays bounded: huge sparse volumes, the size cap, the host cache, exports, crashes", { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let work: string;
  const cache = (snapId: string) => join(d.dataDir, "cache", `${snapId}.qcow2`);
  const volumeFile = (id: string) => join(d.dataDir, "volumes", `${id}.qcow2`);

  const snapshot = async (volumeId: string) => {
    const { snapshot: snap, operation } = await d.client.createSnapshot({ volumeId });
    const op = await d.client.waitOperation(operation.id);
    assert.equal(op.state, "succeeded", op.error?.message);
    return d.client.getSnapshot(snap.id);
  };

  before(async () => {
    // One base of 3 MiB fits under the cap, two do not.
    d = await startTestDaemon(undefined, { maxVolumeSize: 16 * 1024 ** 4, cacheMaxBytes: 5 * MiB, exportTtlMs: 5_000 });
    work = await mkdtemp(join(tmpdir(), "imagesmith-bounds-"));
  });
  after(async () => {
    await d?.close();
    if (d) await removeDir(d.dataDir);
    if (work) await removeDir(work);
  });

  it("snapshots, restores, scrubs and collects a 16000 GiB empty volume in kilobytes and bounded memory", async () => {
    const rssStart = process.memoryUsage().rss;
    let rssMax = rssStart;
    const sample = () => (rssMax = Math.max(rssMax, process.memoryUsage().rss));
    const sampler = setInterval(sample, 50);
    try {
      const volume = await d.client.createVolume({ sizeGiB: 16000 });
      assert.equal(volume.size, 16000 * GiB);
      const snap = await snapshot(volume.id);
      assert.equal(snap.bytesRead, 0);
      const manifest = await stat(join(d.dataDir, "store", "manifests", `${snap.id}.manifest`));
      assert.ok(manifest.size < 4096, `the manifest is ${manifest.size} bytes`);
      console.log(`16000 GiB volume: its snapshot's manifest is ${manifest.size} bytes`);
      // A volume from that snapshot: an overlay on an empty base of 16000 GiB.
      const restored = await d.client.createVolume({ snapshotId: snap.id });
      assert.equal(restored.state, "available");
      assert.equal(restored.size, 16000 * GiB);
      const info = JSON.parse(await sh(`qemu-img info -U --output json ${cache(snap.id)}`)) as { "virtual-size": number };
      assert.equal(info["virtual-size"], 16000 * GiB);
      assert.ok((await stat(cache(snap.id))).blocks * 512 < 8 * MiB, "the cached base is small");
      // An incremental snapshot of the overlay, which holds nothing.
      const inc = await snapshot(restored.id);
      assert.equal(inc.parentId, snap.id);
      assert.ok((await stat(join(d.dataDir, "store", "manifests", `${inc.id}.manifest`))).size < 4096);
      const scrub = await d.client.waitOperation((await d.client.storageOperation("scrub")).id);
      assert.equal(scrub.state, "succeeded", scrub.error?.message);
      assert.deepEqual((scrub.result as { corrupt: unknown[] }).corrupt, []);
      const gc = await d.client.waitOperation((await d.client.storageOperation("gc")).id);
      assert.equal(gc.state, "succeeded", gc.error?.message);
      assert.deepEqual(await readdir(join(d.dataDir, "tmp")), []);
      await d.client.deleteVolume(restored.id);
      await d.client.deleteVolume(volume.id);
    } finally {
      clearInterval(sampler);
    }
    sample();
    const growth = rssMax - rssStart;
    console.log(`16000 GiB volume: RSS of the test process grew by ${Math.round(growth / MiB)} MiB at most`);
    assert.ok(growth < 300 * MiB, `RSS grew by ${Math.round(growth / MiB)} MiB`);
  });

  it("evicts the least recently used base no volume uses, never one a volume uses", async () => {
    const make = async (pattern: string) => {
      const v = await d.client.createVolume({ sizeGiB: 1 });
      await sh(`qemu-io -f qcow2 -c "write -P ${pattern} 0 3M" ${volumeFile(v.id)} >/dev/null`);
      return { volume: v, snap: await snapshot(v.id) };
    };
    const a = await make("0x5a");
    const b = await make("0x6b");
    const fromA = await d.client.createVolume({ snapshotId: a.snap.id });
    assert.ok(await exists(cache(a.snap.id)));
    await d.client.deleteVolume(fromA.id);
    // B's base joins A's: over the cap, and A's is unused: it goes.
    const fromB = await d.client.createVolume({ snapshotId: b.snap.id });
    assert.equal(await exists(cache(a.snap.id)), false, "the unused base was evicted");
    assert.ok(await exists(cache(b.snap.id)));
    // A again: over the cap, but B's base is in use and A's was just made: both stay.
    const againA = await d.client.createVolume({ snapshotId: a.snap.id });
    assert.ok(await exists(cache(a.snap.id)));
    assert.ok(await exists(cache(b.snap.id)), "a base a volume uses is never evicted");
    await sh(`qemu-img compare -U ${volumeFile(a.volume.id)} ${volumeFile(againA.id)}`);
    await sh(`qemu-img compare -U ${volumeFile(b.volume.id)} ${volumeFile(fromB.id)}`);
    // Once B's volume is gone, the next materialize (a cache hit on A) evicts B's base.
    await d.client.deleteVolume(fromB.id);
    const secondA = await d.client.createVolume({ snapshotId: a.snap.id });
    assert.equal(await exists(cache(b.snap.id)), false);
    assert.ok(await exists(cache(a.snap.id)));
    await sh(`qemu-img compare -U ${volumeFile(a.volume.id)} ${volumeFile(secondA.id)}`);
    for (const v of [againA, secondA, a.volume, b.volume]) await d.client.deleteVolume(v.id);
  });

  it("removes an export file once its lifetime is over; its download is refused", async () => {
    const disk = join(work, "small.qcow2");
    await sh(`qemu-img create -q -f qcow2 ${disk} 64M && qemu-io -f qcow2 -c "write -P 0x7c 0 1M" ${disk} >/dev/null`);
    const { operation } = await d.client.importImage(disk, { name: "small", osType: "linux" });
    assert.equal((await d.client.waitOperation(operation.id)).state, "succeeded");
    const image = (await d.client.listImages({ name: "small" }))[0];
    assert.ok(image);
    const exp = await d.client.waitOperation((await d.client.exportImage(image.id, "raw")).id);
    assert.equal(exp.state, "succeeded", exp.error?.message);
    assert.ok(Number(exp.result?.size) > 0);
    const file = join(d.dataDir, "exports", String(exp.result?.file));
    await waitFor("the export file to expire", async () => ((await exists(file)) ? undefined : true), 60_000);
    await assert.rejects(d.client.download(exp.id, join(work, "late.raw")), (e: ApiError) => e.status === 410 && e.code === "EXPORT_EXPIRED");
    assert.equal(await exists(join(work, "late.raw")), false);
  });
});

describe("the volume size cap and recovery after a crash", { timeout: 300_000 }, () => {
  it("refuses a volume above the host's limit with 400 VOLUME_TOO_LARGE", async () => {
    const d = await startTestDaemon();
    try {
      await assert.rejects(d.client.createVolume({ sizeGiB: 16000 }), (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.status, 400);
        assert.equal(err.code, "VOLUME_TOO_LARGE");
        assert.match(err.message, /16000 GiB.*2048 GiB/);
        return true;
      });
      assert.deepEqual(await d.client.listVolumes(), []);
    } finally {
      await d.close();
      await removeDir(d.dataDir);
    }
  });

  it("fails a volume left creating, with a reason, and removes its file and every leftover of interrupted work", async () => {
    const first = await startTestDaemon();
    const dir = first.dataDir;
    const id = newId<VolumeId>("volume");
    const path = paths.volume(dir, id);
    first.daemon.services.ctx.catalog.volumes.insert({
      id,
      state: "creating",
      stateReason: null,
      kind: "data",
      instanceId: null,
      baseSnapshotId: null,
      size: GiB,
      deleteOnTermination: false,
      path,
      tags: {},
      createdAt: new Date().toISOString(),
    });
    await mkdir(join(dir, "volumes"), { recursive: true });
    await writeFile(path, "partial");
    const cacheDir = join(dir, "cache");
    const exportsDir = join(dir, "exports");
    await mkdir(cacheDir, { recursive: true });
    await mkdir(exportsDir, { recursive: true });
    const leftovers = [join(cacheDir, "snap-0123456789abcdef0.qcow2.part"), join(cacheDir, "snap-0123456789abcdef0.qcow2.raw"), join(exportsDir, "op-0123456789abcdef0.raw.part")];
    for (const f of leftovers) await writeFile(f, "x");
    const old = join(exportsDir, "op-0123456789abcdef1.raw");
    const fresh = join(exportsDir, "op-0123456789abcdef2.raw");
    await writeFile(old, "old");
    await writeFile(fresh, "fresh");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(old, twoHoursAgo, twoHoursAgo);
    await first.close();
    const second = await startTestDaemon(dir);
    try {
      const v = await second.client.getVolume(id);
      assert.equal(v.state, "error");
      assert.equal(v.stateReason, "The daemon stopped while the volume was being created");
      assert.equal(await exists(path), false);
      for (const f of [...leftovers, old]) assert.equal(await exists(f), false, `${f} is gone`);
      assert.ok(await exists(fresh), "an export within its lifetime stays");
    } finally {
      await second.close();
      await removeDir(dir);
    }
  });
});

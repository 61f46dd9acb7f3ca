import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildGuest } from "../src/cli/commands/guest.ts";
import { cacheDir, qemuPids, removeDir, sh, spawnDaemon, startTestDaemon, tinyGuest, waitFor, type TestDaemon } from "./helpers.ts";

const MiB = 1024 * 1024;

async function chunkFiles(dataDir: string): Promise<string[]> {
  const root = join(dataDir, "store", "chunks");
  const dirs = await readdir(root).catch(() => [] as string[]);
  const all: string[] = [];
  for (const d of dirs) for (const f of await readdir(join(root, d))) all.push(join(root, d, f));
  return all;
}

describe("block storage on the chunk store", { timeout: 1_200_000 }, () => {
  let d: TestDaemon;
  let work: string;
  let tiny: string;
  let tinyImage: string;

  const importImage = async (file: string, name: string) => {
    const r = await d.client.importImage(file, { name, osType: "linux" });
    const op = await d.client.waitOperation(r.operation.id);
    assert.equal(op.state, "succeeded", op.error?.message);
    return d.client.getImage(r.image.id);
  };

  before(async () => {
    d = await startTestDaemon();
    work = await mkdtemp(join(tmpdir(), "imagesmith-storage-"));
    tiny = await tinyGuest();
    tinyImage = (await importImage(tiny, "tiny")).id;
  });
  after(async () => {
    await d?.close();
    if (d) await removeDir(d.dataDir);
    if (work) await removeDir(work);
  });

  it("stores two images imported from the same disk once: they share every chunk", async () => {
    const before = (await chunkFiles(d.dataDir)).length;
    const second = await importImage(tiny, "tiny-again");
    const first = await d.client.getImage(tinyImage);
    assert.equal((await chunkFiles(d.dataDir)).length, before);
    const [a, b] = await Promise.all([first, second].map((i) => d.client.getSnapshot(i.blockDeviceMappings[0]?.snapshotId ?? "")));
    assert.ok(a && a.bytesStored > 0);
    assert.equal(b?.bytesStored, 0);
    const ma = await readFile(join(d.dataDir, "store", "manifests", `${a.id}.manifest`), "utf8");
    const mb = await readFile(join(d.dataDir, "store", "manifests", `${b?.id}.manifest`), "utf8");
    const extents = (m: string) => (JSON.parse(m.slice(m.indexOf("\n") + 1)) as { extents: unknown[] }).extents;
    assert.ok(extents(ma).length > 0);
    assert.deepEqual(extents(ma), extents(mb));
  });

  it("snapshots a running instance's 1 GiB volume with 10 MiB changed for about 10 MiB, and restores it byte for byte", async () => {
    // The tiny guest on a 1 GiB disk.
    const big = join(work, "tiny-1g.qcow2");
    process.env.GUEST_DISK_MIB = "1024";
    await buildGuest(big, join(cacheDir, "1g"));
    delete process.env.GUEST_DISK_MIB;
    const image = await importImage(big, "tiny-1g");
    assert.equal(image.virtualSize, 1024 * MiB);
    const key = await d.client.createKeyPair("storage-key");
    const keyFile = join(work, "k.pem");
    await writeFile(keyFile, key.privateKey ?? "", { mode: 0o600 });
    const [inst] = await d.client.runInstances({ imageId: image.id, count: 1, keyName: "storage-key" });
    assert.ok(inst);
    const [running] = await d.client.waitInstances([inst.id], "ready", { timeoutMs: 300_000 });
    const ssh = (cmd: string) =>
      sh(`ssh -i ${keyFile} -p ${running?.sshPort} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 '${cmd}'`);
    await ssh("dd if=/dev/urandom of=/root/blob bs=1M count=10 2>/dev/null && sync");
    const volumeId = running?.bootVolumeId ?? "";
    const { snapshot, operation } = await d.client.createSnapshot({ volumeId, description: "10 MiB later" });
    const op = await d.client.waitOperation(operation.id);
    assert.equal(op.state, "succeeded", op.error?.message);
    const snap = await d.client.getSnapshot(snapshot.id);
    assert.equal(snap.consistency, "fs-frozen");
    assert.equal(snap.parentId, image.blockDeviceMappings[0]?.snapshotId);
    // 10 MiB of data, plus the guest filesystem's own journal, inode and bitmap writes,
    // each of which makes its 256 KiB chunk new: about 10 MiB, nowhere near the 1 GiB disk.
    assert.ok(snap.bytesStored >= 10 * MiB && snap.bytesStored < 14 * MiB, `stored ${snap.bytesStored} bytes for a 10 MiB change`);
    assert.ok(snap.bytesRead < 16 * MiB, `read ${snap.bytesRead} bytes for a 10 MiB change`);
    assert.equal(await ssh("echo alive"), "alive", "the instance runs on after the snapshot");
    // The guest went on writing after that snapshot (and at its shutdown). Once it is
    // stopped, a clean snapshot must restore to exactly what the volume holds.
    await d.client.instanceAction(inst.id, "stop");
    await d.client.waitInstances([inst.id], "stopped", { timeoutMs: 120_000 });
    const second = await d.client.createSnapshot({ volumeId, description: "stopped" });
    assert.equal((await d.client.waitOperation(second.operation.id)).state, "succeeded");
    const clean = await d.client.getSnapshot(second.snapshot.id);
    assert.equal(clean.consistency, "clean");
    assert.ok(clean.bytesStored < 4 * MiB, `the second snapshot stored ${clean.bytesStored} bytes: only what changed`);
    const restored = await d.client.createVolume({ snapshotId: clean.id });
    const vol = join(d.dataDir, "volumes", `${volumeId}.qcow2`);
    const out = join(d.dataDir, "volumes", `${restored.id}.qcow2`);
    const sum = (f: string) => sh(`qemu-img convert -U -O raw ${f} ${f}.raw && sha256sum < ${f}.raw && rm ${f}.raw`);
    assert.equal(await sum(out), await sum(vol));
    await d.client.instanceAction(inst.id, "terminate");
    await d.client.waitInstances([inst.id], "terminated", { timeoutMs: 120_000 });
    await d.client.deleteVolume(restored.id);
  });

  it("reports a flipped byte in a chunk by snapshot and offset, and reading that snapshot fails loudly", async () => {
    const disk = join(work, "victim.raw");
    await sh(`cp ${tiny} ${disk}.q && qemu-img convert -O raw ${disk}.q ${disk} && printf 'unique-%s' $RANDOM$RANDOM | dd of=${disk} bs=1 seek=${200 * MiB} conv=notrunc 2>/dev/null`);
    const image = await importImage(disk, "victim");
    const snapId = image.blockDeviceMappings[0]?.snapshotId ?? "";
    const manifest = await readFile(join(d.dataDir, "store", "manifests", `${snapId}.manifest`), "utf8");
    const { extents, chunkSize } = JSON.parse(manifest.slice(manifest.indexOf("\n") + 1)) as { extents: { start: number; hashes: string[] }[]; chunkSize: number };
    const index = Math.floor((200 * MiB) / chunkSize);
    const run = extents.find((e) => e.start <= index && index < e.start + e.hashes.length);
    const hash = run?.hashes[index - (run?.start ?? 0)] ?? "";
    const file = join(d.dataDir, "store", "chunks", hash.slice(0, 2), hash);
    const bytes = await readFile(file);
    // The stored payload's last byte: this chunk (a few bytes of text among zeros) compresses
    // to far less than its 256 KiB, so a fixed offset could fall past the end of the file.
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
    const scrub = await d.client.waitOperation((await d.client.storageOperation("scrub")).id);
    const corrupt = (scrub.result as { corrupt: { snapshotId: string; offset: number; chunk: string; reason: string }[] }).corrupt;
    assert.deepEqual(
      corrupt.map(({ reason: _, ...where }) => where),
      [{ snapshotId: snapId, offset: index * chunkSize, chunk: hash }],
    );
    // Flipped in a zstd payload, the byte breaks the frame or changes what it decodes to: either is caught.
    assert.match(corrupt[0]?.reason ?? "", new RegExp(`^chunk ${hash} is corrupt: (content does not match its hash|cannot decompress)$`));
    const cli = await d.cli(["storage", "scrub"]);
    assert.equal(cli.code, 2);
    const exp = await d.client.waitOperation((await d.client.exportImage(image.id, "raw")).id);
    assert.equal(exp.state, "failed");
    assert.match(exp.error?.message ?? "", new RegExp(`Snapshot ${snapId} cannot be read at offset ${index * chunkSize}: chunk ${hash} is corrupt`));
  });

  it("exports to raw, qcow2, vhd, vmdk and vdi; each re-imports to the same raw content", async () => {
    const original = join(work, "orig.raw");
    await sh(`qemu-img convert -O raw ${tiny} ${original}`);
    for (const format of ["raw", "qcow2", "vhd", "vmdk", "vdi"] as const) {
      const out = join(work, `export.${format}`);
      const r = await d.cli(["image", "export", tinyImage, "--format", format, "--out", out]);
      assert.equal(r.code, 0, r.stderr);
      // A fixed VHD probes as raw (its footer is at the end): name the format to read it.
      const info = JSON.parse(await sh(`qemu-img info --output json -f ${format === "vhd" ? "vpc" : format} ${out}`)) as { format: string; "virtual-size": number };
      assert.equal(info["virtual-size"], (await d.client.getImage(tinyImage)).virtualSize);
      if (format !== "raw" && format !== "vhd") await sh(`qemu-img check -q ${out}`);
      if (format === "vhd") assert.match(await sh(`tail -c 512 ${out} | head -c 8`), /conectix/);
      const again = await importImage(out, `round-trip-${format}`);
      const back = join(work, `back-${format}.raw`);
      await d.client.waitOperation((await d.client.exportImage(again.id, "raw")).id).then((op) => d.client.download(op.id, back));
      await sh(`cmp ${original} ${back}`);
    }
  });

  it("imports VHDX and OVA files to the same raw content", async () => {
    const original = join(work, "orig2.raw");
    await sh(`qemu-img convert -O raw ${tiny} ${original}`);
    const vhdx = join(work, "tiny.vhdx");
    await sh(`qemu-img convert -O vhdx ${tiny} ${vhdx}`);
    // An OVA: a tar of an OVF descriptor and a streamOptimized VMDK.
    const ova = join(work, "tiny.ova");
    await sh(
      `cd ${work} && qemu-img convert -O vmdk -o subformat=streamOptimized ${tiny} disk1.vmdk && printf '<?xml version="1.0"?><Envelope/>' > tiny.ovf && tar -cf ${ova} tiny.ovf disk1.vmdk`,
    );
    for (const [file, format] of [[vhdx, "vhdx"], [ova, "ova/vmdk"]] as const) {
      const image = await importImage(file, `imported-${format.replace("/", "-")}`);
      assert.equal(image.sourceFormat, format);
      const back = join(work, `back-${image.id}.raw`);
      await d.client.waitOperation((await d.client.exportImage(image.id, "raw")).id).then((op) => d.client.download(op.id, back));
      await sh(`cmp ${original} ${back}`);
    }
    const notOva = join(work, "not.ova");
    await sh(`cd ${work} && echo hi > a.txt && tar -cf ${notOva} a.txt`);
    await assert.rejects(d.client.importImage(notOva, { name: "not-ova", osType: "linux" }), /not an OVA: it has no \.ovf descriptor/);
  });

  it("boots the exported qcow2 of the tiny guest under plain QEMU to its ready line", async () => {
    const out = join(work, "boot.qcow2");
    assert.equal((await d.cli(["image", "export", tinyImage, "--format", "qcow2", "--out", out])).code, 0);
    const log = join(work, "boot-console.log");
    const qemu = spawn("qemu-system-x86_64", ["-accel", "tcg", "-m", "256", "-nodefaults", "-display", "none", "-serial", `file:${log}`, "-drive", `file=${out},if=virtio,format=qcow2`]);
    try {
      await waitFor("the ready line", async () => ((await readFile(log, "utf8").catch(() => "")).includes("imagesmith-guest: ready") ? true : undefined), 180_000);
    } finally {
      qemu.kill("SIGKILL");
    }
  });

  it("survives SIGKILL mid-import: no available image, no completed snapshot with missing chunks, garbage reclaimed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-kill-"));
    const disk = join(work, "big.raw");
    await sh(`truncate -s 1G ${disk} && head -c ${700 * MiB} /dev/urandom | dd of=${disk} bs=1M seek=1 conv=notrunc 2>/dev/null && printf '\\x55\\xaa' | dd of=${disk} bs=1 seek=510 conv=notrunc 2>/dev/null`);
    let daemon = await spawnDaemon(dir);
    const { image, operation } = await daemon.client.importImage(disk, { name: "killed", osType: "linux" });
    await waitFor("some chunks to be written", async () => ((await chunkFiles(dir)).length > 50 ? true : undefined), 120_000);
    assert.equal((await daemon.client.getOperation(operation.id)).state, "running");
    await daemon.kill("SIGKILL");
    daemon = await spawnDaemon(dir);
    try {
      const img = await daemon.client.getImage(image.id);
      assert.equal(img.state, "failed");
      assert.match(img.stateReason ?? "", /daemon stopped/);
      const op = await daemon.client.getOperation(operation.id);
      assert.equal(op.state, "failed");
      const snaps = await daemon.client.listSnapshots();
      assert.ok(snaps.every((s) => s.state !== "completed" && s.state !== "pending"));
      assert.deepEqual(await readdir(join(dir, "store", "manifests")).catch(() => []), []);
      const gc = await daemon.client.waitOperation((await daemon.client.storageOperation("gc")).id);
      assert.ok(((gc.result as { chunksDeleted: number }).chunksDeleted) > 50);
      assert.deepEqual(await chunkFiles(dir), []);
      assert.deepEqual(await readdir(join(dir, "tmp")), []);
    } finally {
      await daemon.kill("SIGTERM");
      await removeDir(dir);
    }
  });

  it("keeps chunks a snapshot references through gc, and reclaims them once it is deleted", async () => {
    const volume = await d.client.createVolume({ sizeGiB: 1 });
    const file = join(d.dataDir, "volumes", `${volume.id}.qcow2`);
    await sh(`qemu-io -c "write -P 0x5a 0 3M" ${file} >/dev/null`);
    const { snapshot, operation } = await d.client.createSnapshot({ volumeId: volume.id });
    await d.client.waitOperation(operation.id);
    const snap = await d.client.getSnapshot(snapshot.id);
    assert.equal(snap.consistency, "clean");
    assert.equal(snap.parentId, null);
    // 3 MiB of one repeated block: one chunk stored.
    const gc1 = await d.client.waitOperation((await d.client.storageOperation("gc")).id);
    const usage1 = (gc1.result as { bytesAfter: number }).bytesAfter;
    const restored = await d.client.createVolume({ snapshotId: snap.id });
    await sh(`qemu-img compare -U ${file} ${join(d.dataDir, "volumes", `${restored.id}.qcow2`)}`);
    await assert.rejects(d.client.deleteSnapshot(snap.id), /volume .* is based on it/);
    await d.client.deleteVolume(restored.id);
    await d.client.deleteSnapshot(snap.id);
    const gc2 = await d.client.waitOperation((await d.client.storageOperation("gc")).id);
    assert.ok((gc2.result as { chunksDeleted: number }).chunksDeleted >= 1);
    assert.ok((gc2.result as { bytesAfter: number }).bytesAfter < usage1);
    await d.client.deleteVolume(volume.id);
    assert.equal((await stat(file).catch(() => undefined)), undefined);
  });

  it("attaches data volumes at launch and while stopped, and detaches them", async () => {
    const [inst] = await d.client.runInstances({ imageId: tinyImage, count: 1, dataVolumes: [{ sizeGiB: 1 }] });
    assert.ok(inst);
    let vols = await d.client.listVolumes({ instanceId: inst.id });
    assert.deepEqual(vols.map((v) => v.kind).sort(), ["boot", "data"]);
    await d.client.waitInstances([inst.id], "ready", { timeoutMs: 300_000 });
    const extra = await d.client.createVolume({ sizeGiB: 1 });
    await assert.rejects(d.client.attachVolume(extra.id, inst.id), /stop it first/);
    await d.client.instanceAction(inst.id, "stop");
    await d.client.waitInstances([inst.id], "stopped", { timeoutMs: 120_000 });
    assert.equal((await d.client.attachVolume(extra.id, inst.id)).state, "in-use");
    assert.equal((await d.client.detachVolume(extra.id)).state, "available");
    await d.client.instanceAction(inst.id, "terminate");
    await d.client.waitInstances([inst.id], "terminated", { timeoutMs: 120_000 });
    vols = await d.client.listVolumes({ instanceId: inst.id });
    assert.deepEqual(vols, []);
    assert.deepEqual(await qemuPids(inst.id), []);
    await d.client.deleteVolume(extra.id);
  });
});

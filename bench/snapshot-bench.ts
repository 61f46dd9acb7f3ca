// Capture benchmark: our full and incremental snapshots against qemu-img convert
// (a full copy) and restic backup (a deduplicating peer), on the same data in the
// same run. Prints every figure and the ratios. Not a test: nothing is asserted.
//
//   node --import tsx bench/snapshot-bench.ts [--size-gib 2] [--change-pct 5]
import { execFile } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { promisify } from "node:util";
import { startDaemon } from "../src/daemon.ts";
import { Client } from "../src/client/client.ts";

const run = promisify(execFile);
const sh = async (cmd: string, env: Record<string, string> = {}) =>
  (await run("bash", ["-c", cmd], { maxBuffer: 64 << 20, env: { ...process.env, ...env } })).stdout.trim();
const MiB = 1024 * 1024;
const { values } = parseArgs({ options: { "size-gib": { type: "string", default: "2" }, "change-pct": { type: "string", default: "5" } } });
const sizeGiB = Number(values["size-gib"]);
const changePct = Number(values["change-pct"]);

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { value, seconds: Number(process.hrtime.bigint() - t) / 1e9 };
}
const du = async (path: string) => Number((await sh(`du -sb ${path} | cut -f1`)) || 0);
const fmt = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

const work = await mkdtemp(join(tmpdir(), "imagesmith-bench-"));
try {
  // Realistic content: an ext4 filesystem holding the host's shared libraries and
  // /usr/share (binaries, text, compressed files), the rest of the disk free.
  const disk = join(work, "disk.raw");
  console.log(`preparing a ${sizeGiB} GiB ext4 disk from /usr/lib/x86_64-linux-gnu and /usr/share …`);
  await sh(`mkdir ${work}/tree && cp -a /usr/lib/x86_64-linux-gnu /usr/share ${work}/tree/ 2>/dev/null || true`);
  await sh(`truncate -s ${sizeGiB}G ${disk}.fs && mke2fs -q -t ext4 -d ${work}/tree ${disk}.fs && rm -rf ${work}/tree`);
  // A disk with an MBR: 1 MiB of partition table, then the filesystem.
  await sh(`truncate -s $((${sizeGiB} * 1024 + 1))M ${disk} && printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q ${disk} && dd if=${disk}.fs of=${disk} bs=1M seek=1 conv=notrunc,sparse status=none && rm ${disk}.fs`);
  const used = Number(await sh(`qemu-img map -f raw --output=json ${disk} | node -e "let s=0;for(const e of JSON.parse(require('fs').readFileSync(0)))if(e.data)s+=e.length;console.log(s)"`));
  console.log(`disk: ${sizeGiB} GiB virtual, ${fmt(used)} of data\n`);

  const daemon = await startDaemon({ dataDir: join(work, "data"), listen: "127.0.0.1:0", accelerator: "tcg", logLevel: "warn" });
  const client = new Client(daemon.url, (await readFile(join(work, "data", "admin-token"), "utf8")).trim());
  try {
    // Full: import the disk. The upload over HTTP is timed apart: the capture is the
    // operation, from its creation (once the body is in) to its end.
    // The same raw disk restic backs up below.
    const upload = await timed(() => client.importImage(disk, { name: "bench", osType: "linux" }));
    const op = await client.waitOperation(upload.value.operation.id);
    const full = { seconds: (Date.parse(op.updatedAt) - Date.parse(op.createdAt)) / 1000 };
    const fullSnap = await client.getSnapshot((await client.getImage(upload.value.image.id)).blockDeviceMappings[0]?.snapshotId ?? "");
    console.log(`upload of the raw disk over HTTP: ${upload.seconds.toFixed(2)} s (not counted below)`);
    // A volume on the image; change changePct of the used data at random 1 MiB-aligned places.
    const volume = await client.createVolume({ snapshotId: fullSnap.id });
    const volFile = join(work, "data", "volumes", `${volume.id}.qcow2`);
    const changeBytes = Math.round((used * changePct) / 100);
    const writes: string[] = [];
    for (let left = changeBytes; left > 0; left -= MiB) {
      const at = randomInt(0, sizeGiB * 1024) * MiB;
      writes.push(`-c "write -P ${randomInt(1, 255)} ${at} ${Math.min(left, MiB)}"`);
    }
    for (let i = 0; i < writes.length; i += 200) await sh(`qemu-io ${writes.slice(i, i + 200).join(" ")} ${volFile} >/dev/null`);
    // Timed by the client, request to answer: everything a user waits for.
    const inc = await timed(async () => {
      const { snapshot, operation } = await client.createSnapshot({ volumeId: volume.id });
      await client.waitOperation(operation.id);
      return client.getSnapshot(snapshot.id);
    });

    // Peers on the same data.
    const copy = await timed(() => sh(`qemu-img convert -O qcow2 ${volFile} ${work}/copy.qcow2`));
    const copyBytes = await du(`${work}/copy.qcow2`);
    // Our snapshots are durable (fsync before the manifest); so is this copy (O_DIRECT, then fsync).
    const durable = await timed(() => sh(`qemu-img convert -t none -O qcow2 ${volFile} ${work}/copy2.qcow2 && sync -f ${work}/copy2.qcow2`));
    const restic = { RESTIC_PASSWORD: "bench", RESTIC_REPOSITORY: `${work}/restic` };
    await sh("restic init -q", restic);
    const resticFull = await timed(() => sh(`restic backup -q ${disk}`, restic));
    const resticFullBytes = await du(`${work}/restic`);
    await sh(`qemu-img convert -U -O raw ${volFile} ${disk}`);
    const resticInc = await timed(() => sh(`restic backup -q ${disk}`, restic));
    const resticIncBytes = (await du(`${work}/restic`)) - resticFullBytes;

    const rows = [
      ["imagesmith full snapshot (import capture)", full.seconds, fullSnap.bytesRead, fullSnap.bytesStored],
      [`imagesmith incremental (${changePct}% changed)`, inc.seconds, inc.value.bytesRead, inc.value.bytesStored],
      ["qemu-img convert (full copy, page cache)", copy.seconds, used, copyBytes],
      ["qemu-img convert -t none + sync (durable)", durable.seconds, used, copyBytes],
      ["restic backup, first", resticFull.seconds, used, resticFullBytes],
      ["restic backup, after the change", resticInc.seconds, sizeGiB * 1024 * MiB, resticIncBytes],
    ] as const;
    console.log("what".padEnd(40), "seconds".padStart(8), "read".padStart(12), "stored".padStart(12), "MiB/s of data".padStart(14));
    for (const [what, s, read, stored] of rows) {
      console.log(what.padEnd(40), s.toFixed(2).padStart(8), fmt(read).padStart(12), fmt(stored).padStart(12), (read / MiB / s).toFixed(0).padStart(14));
    }
    console.log();
    console.log(`incremental vs durable full copy:            ${(durable.seconds / inc.seconds).toFixed(1)}x faster (target ≥ 10x)`);
    console.log(`incremental vs page-cache full copy:         ${(copy.seconds / inc.seconds).toFixed(1)}x faster`);
    console.log(`incremental vs restic after the change:      ${(resticInc.seconds / inc.seconds).toFixed(1)}x faster`);
    console.log(`full snapshot vs restic first backup:        ${(resticFull.seconds / full.seconds).toFixed(2)}x (≥ 1 means no slower)`);
    console.log(`stored: full ${fmt(fullSnap.bytesStored)} vs restic ${fmt(resticFullBytes)}; incremental ${fmt(inc.value.bytesStored)} vs restic ${fmt(resticIncBytes)}`);
  } finally {
    await daemon.close();
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

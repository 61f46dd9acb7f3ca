// Capture benchmark: full capture (import) and incremental snapshots against qemu-img convert
// (a durable full copy), restic backup (a deduplicating, compressing peer) and the machine's
// hash-and-read ceiling, on the same data in the same run. Not a test: nothing is asserted.
//
//   node --import tsx bench/snapshot-bench.ts [--sizes 2,8] [--changes 1,5,20] [--runs 3]
//
// Each figure is the median of --runs runs; every run starts a fresh daemon on an empty data
// dir, so no run deduplicates against an earlier one.
import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes, randomInt } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "../src/client/client.ts";
import { atLeast, atMost, report, timed, type Figure, type Ratio } from "./result.ts";
import { du, median, sh, spawnDaemon, stopDaemon } from "./tools.ts";

const MiB = 1024 * 1024;
const { values } = parseArgs({ options: { sizes: { type: "string", default: "2,8" }, changes: { type: "string", default: "1,5,20" }, runs: { type: "string", default: "3" }, derived: { type: "string", default: "10" } } });
const sizes = values.sizes.split(",").map(Number);
const changes = values.changes.split(",").map(Number);
const runs = Number(values.runs);
const derivedCount = Number(values.derived);

const figures: Figure[] = [];
const ratios: Ratio[] = [];
const notes: string[] = [];
const figure = (name: string, samples: number[], unit: string) => {
  const value = median(samples);
  figures.push({ name, value, unit });
  return value;
};

/** A raw disk with an MBR and an ext4 filesystem holding the host's shared libraries and /usr/share. */
async function prepareDisk(work: string, sizeGiB: number): Promise<{ disk: string; used: number }> {
  const disk = join(work, `disk-${sizeGiB}.raw`);
  await sh(`mkdir ${work}/tree && cp -a /usr/lib/x86_64-linux-gnu /usr/share ${work}/tree/ 2>/dev/null || true`);
  await sh(`truncate -s ${sizeGiB}G ${disk}.fs && mke2fs -q -t ext4 -d ${work}/tree ${disk}.fs && rm -rf ${work}/tree`);
  await sh(`truncate -s $((${sizeGiB} * 1024 + 1))M ${disk} && printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q ${disk} && dd if=${disk}.fs of=${disk} bs=1M seek=1 conv=notrunc,sparse status=none && rm ${disk}.fs`);
  const map = JSON.parse(await sh(`qemu-img map -f raw --output=json ${disk}`)) as { length: number; data: boolean }[];
  return { disk, used: map.filter((e) => e.data).reduce((n, e) => n + e.length, 0) };
}

/**
 * Change data like a guest's: 1 MiB pieces of real binaries, each 4 KiB block's first 16 bytes
 * made unique, so they compress like files but never deduplicate against the disk or each other.
 */
async function changePieces(work: string, count: number): Promise<string[]> {
  const pool = await readFile("/usr/bin/qemu-system-x86_64");
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const at = randomInt(0, pool.length - MiB);
    const piece = Buffer.from(pool.subarray(at, at + MiB));
    for (let b = 0; b < MiB; b += 4096) randomBytes(16).copy(piece, b);
    const file = join(work, `piece-${i}`);
    await writeFile(file, piece);
    files.push(file);
  }
  return files;
}

/** Writes `bytes` of change data at random 1 MiB-aligned places of a qcow2 volume. */
async function change(volume: string, bytes: number, pieces: string[], diskMiB: number): Promise<void> {
  const writes: string[] = [];
  for (let i = 0; i * MiB < bytes; i++) writes.push(`-c "write -s ${pieces[i % pieces.length]} ${randomInt(0, diskMiB) * MiB} ${MiB}"`);
  for (let i = 0; i < writes.length; i += 200) await sh(`qemu-io ${writes.slice(i, i + 200).join(" ")} ${volume} >/dev/null`);
}

/** A daemon of its own for each run, with its client. */
async function startDaemon(dataDir: string): Promise<{ client: Client; child: ChildProcess }> {
  await mkdir(dataDir, { recursive: true });
  const { url, child } = await spawnDaemon(dataDir, join(dataDir, "..", `daemon-${randomInt(1e9)}.log`));
  return { client: new Client(url, (await readFile(join(dataDir, "admin-token"), "utf8")).trim()), child };
}

/** Node's SHA-256 of a 64 MiB buffer, MB/s per core, and sequential reads of a dense 1 GiB file with O_DIRECT. */
async function ceiling(work: string): Promise<{ hashMBs: number; readMBs: number }> {
  const buf = randomBytes(64 * MiB);
  const hash = await timed(async () => {
    for (let i = 0; i < 8; i++) createHash("sha256").update(buf).digest();
  });
  await sh(`head -c 1G /dev/urandom > ${work}/dense && sync -f ${work}/dense`);
  const read = await timed(() => sh(`dd if=${work}/dense of=/dev/null bs=4M iflag=direct status=none`));
  await rm(`${work}/dense`);
  return { hashMBs: (8 * 64 * MiB) / 1e6 / hash.seconds, readMBs: 1024 ** 3 / 1e6 / read.seconds };
}

const work = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "imagesmith-bench-"));
try {
  const cores = availableParallelism();
  const ceil = await ceiling(work);
  const hashCeiling = Math.min(ceil.hashMBs * cores, ceil.readMBs);
  figures.push({ name: "SHA-256 in Node, one core", value: ceil.hashMBs, unit: "MB/s" }, { name: "sequential read, O_DIRECT", value: ceil.readMBs, unit: "MB/s" }, { name: `hash-and-read ceiling (min of hash × ${cores} cores, read)`, value: hashCeiling, unit: "MB/s" });
  for (const sizeGiB of sizes) {
    console.log(`preparing a ${sizeGiB} GiB disk …`);
    const { disk, used } = await prepareDisk(work, sizeGiB);
    const pieces = await changePieces(work, Math.ceil((used * Math.max(...changes, 2)) / 100 / MiB));
    figures.push({ name: `${sizeGiB} GiB disk: data`, value: used / MiB, unit: "MiB" });
    const s: Record<string, number[]> = {};
    const add = (k: string, v: number) => (s[k] ??= []).push(v);
    for (let run = 0; run < runs; run++) {
      const dataDir = join(work, `data-${run}`);
      const { client, child } = await startDaemon(dataDir);
      try {
        // Full: the upload, then the import's capture (its operation, from creation to end).
        const upload = await timed(() => client.importImage(disk, { name: `bench-${run}`, osType: "linux" }));
        const op = await client.waitOperation(upload.value.operation.id);
        const capture = (Date.parse(op.updatedAt) - Date.parse(op.createdAt)) / 1000;
        const total = upload.seconds + capture;
        const base = await client.getSnapshot((await client.getImage(upload.value.image.id)).blockDeviceMappings[0]?.snapshotId ?? "");
        add("upload", upload.seconds);
        add("capture", capture);
        add("upload+capture", total);
        add("full stored", base.bytesStored);
        add("full read", base.bytesRead);
        const durable = await timed(() => sh(`qemu-img convert -t none -O qcow2 ${disk} ${work}/copy.qcow2 && sync -f ${work}/copy.qcow2`));
        add("durable copy", durable.seconds);
        const restic = { RESTIC_PASSWORD: "bench", RESTIC_REPOSITORY: `${work}/restic-${run}` };
        await sh("restic init -q", restic);
        add("restic", (await timed(() => sh(`restic backup -q ${disk}`, restic))).seconds);
        add("restic stored", await du(`${work}/restic-${run}`));
        await rm(`${work}/restic-${run}`, { recursive: true });

        // Incremental: a volume on the image, pct % of the data changed, its snapshot timed by the
        // client (request to answer), against a durable full copy of the same changed volume.
        for (const pct of changes) {
          const volume = await client.createVolume({ snapshotId: base.id });
          const file = join(dataDir, "volumes", `${volume.id}.qcow2`);
          await change(file, (used * pct) / 100, pieces, sizeGiB * 1024);
          const inc = await timed(async () => {
            const { snapshot, operation } = await client.createSnapshot({ volumeId: volume.id });
            await client.waitOperation(operation.id);
            return client.getSnapshot(snapshot.id);
          });
          const copy = await timed(() => sh(`qemu-img convert -t none -O qcow2 ${file} ${work}/copy.qcow2 && sync -f ${work}/copy.qcow2`));
          add(`inc ${pct}`, inc.seconds);
          add(`inc ${pct} stored`, inc.value.bytesStored);
          add(`copy ${pct}`, copy.seconds);
        }

        // Storage: derived images from one base, each with its own 2 % change: what the store
        // holds against the base plus each one's delta.
        if (sizeGiB === sizes[0] && run === 0 && derivedCount > 0) {
          const before = await du(join(dataDir, "store"));
          let deltas = 0;
          for (let i = 0; i < derivedCount; i++) {
            const volume = await client.createVolume({ snapshotId: base.id });
            await change(join(dataDir, "volumes", `${volume.id}.qcow2`), (used * 2) / 100, pieces.slice(i * 3), sizeGiB * 1024);
            const { snapshot, operation } = await client.createSnapshot({ volumeId: volume.id });
            await client.waitOperation(operation.id);
            deltas += (await client.getSnapshot(snapshot.id)).bytesStored;
          }
          add("derived ratio", (await du(join(dataDir, "store"))) / (before + deltas));
        }
      } finally {
        await stopDaemon(child);
        await rm(dataDir, { recursive: true, force: true });
      }
    }
    const g = sizeGiB;
    const capture = figure(`${g} GiB: full capture (import)`, s.capture ?? [], "s");
    figure(`${g} GiB: upload over HTTP`, s.upload ?? [], "s");
    const both = figure(`${g} GiB: upload + capture`, s["upload+capture"] ?? [], "s");
    const durable = figure(`${g} GiB: qemu-img convert -t none + sync`, s["durable copy"] ?? [], "s");
    const restic = figure(`${g} GiB: restic backup, first`, s.restic ?? [], "s");
    const stored = figure(`${g} GiB: full stored`, (s["full stored"] ?? []).map((b) => b / MiB), "MiB");
    const resticStored = figure(`${g} GiB: restic stored`, (s["restic stored"] ?? []).map((b) => b / MiB), "MiB");
    const captureMBs = used / 1e6 / capture;
    figures.push({ name: `${g} GiB: full capture throughput`, value: captureMBs, unit: "MB/s of data" }, { name: `${g} GiB: durable copy throughput`, value: used / 1e6 / durable, unit: "MB/s of data" });
    ratios.push(
      atLeast(`${g} GiB: full capture throughput / durable qemu-img convert`, durable / capture, 1),
      atLeast(`${g} GiB: full capture throughput / hash-and-read ceiling`, captureMBs / hashCeiling, 0.5),
      atLeast(`${g} GiB: restic first backup / full capture (time)`, restic / capture, 1),
      atMost(`${g} GiB: full stored / restic stored`, stored / resticStored, 1),
      atMost(`${g} GiB: (upload + capture) / capture`, both / capture, 1.2),
    );
    for (const pct of changes) {
      const inc = figure(`${g} GiB: incremental, ${pct} % changed`, s[`inc ${pct}`] ?? [], "s");
      figure(`${g} GiB: incremental, ${pct} % changed, stored`, (s[`inc ${pct} stored`] ?? []).map((b) => b / MiB), "MiB");
      const copy = figure(`${g} GiB: durable copy of the ${pct} % changed volume`, s[`copy ${pct}`] ?? [], "s");
      ratios.push(pct === 5 ? atLeast(`${g} GiB: durable full copy / incremental (5 %)`, copy / inc, 10) : { name: `${g} GiB: durable full copy / incremental (${pct} %)`, value: copy / inc, target: "(shown)", met: true });
    }
    if (s["derived ratio"]) ratios.push(atMost(`${derivedCount} images each 2 % from one base: store / (base + deltas)`, median(s["derived ratio"]), 1.2));
    await rm(disk);
  }
  notes.push(`median of ${runs} runs; ${cores} cores; store usage by du (allocated blocks)`);
} finally {
  await rm(work, { recursive: true, force: true });
}

console.log("figure".padEnd(64), "value".padStart(10), "unit");
for (const f of figures) console.log(f.name.padEnd(64), f.value.toFixed(2).padStart(10), f.unit);
console.log();
for (const r of ratios) console.log(r.name.padEnd(72), r.value.toFixed(2).padStart(8), r.target.padStart(8), r.met ? "met" : "NOT MET");
report({ bench: "capture", figures, ratios, notes });

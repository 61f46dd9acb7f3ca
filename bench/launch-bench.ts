// Launch benchmark: provisioning a boot volume from a cached image against qemu-img convert
// (a full copy of the disk), for images of 1, 10 and 100 GiB holding the same 200 MiB of
// data; the first provisioning on a host (it materializes the base); and launch-to-ready of
// the tiny guest through imagesmith against a bare qemu-system-x86_64 boot of the same disk
// to the same console line. Prints every figure and the ratios. Not a test: nothing is asserted.
//
//   node --import tsx bench/launch-bench.ts [--runs N] [--skip-boot]
//
// --runs N: boots and cached provisionings per case (default 3 boots, 5 provisionings).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { IsoConfigDrive } from "../src/adapters/configdrive/iso-config-drive.ts";
import { Client } from "../src/client/client.ts";
import { phoneHomeUrl } from "../src/core/guest-contract.ts";
import { startDaemon, type Daemon } from "../src/daemon.ts";
import { killVmsOf, qemuPids, tinyGuest } from "../test/helpers.ts";
import { atLeast, atMost, report, timed, type BenchResult, type Figure } from "./result.ts";

const run = promisify(execFile);
const sh = async (cmd: string) => (await run("bash", ["-c", cmd], { maxBuffer: 64 << 20 })).stdout.trim();
const MiB = 1024 * 1024;
const sizes = [1, 10, 100] as const;
type Size = (typeof sizes)[number];
// What the tiny guest's agent prints when it is up, and what the daemon waits for (src/services/readiness-watch.ts).
const readyLine = /imagesmith-guest: ready/;
const instanceType = { name: "is.nano", vcpus: 1, memoryMiB: 256 }; // src/core/instance-types.ts

const { values } = parseArgs({ options: { runs: { type: "string" }, "skip-boot": { type: "boolean", default: false } } });
const bootRuns = values.runs ? Number(values.runs) : 3;
const provisionRuns = values.runs ? Number(values.runs) : 5;
if (!(bootRuns >= 1)) throw new Error(`--runs must be a positive number, not ${values.runs}`);

const now = () => process.hrtime.bigint();
const since = (t: bigint) => Number(now() - t) / 1e9;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};
const secs = (s: number) => (s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`);
const exists = (path: string) => stat(path).then(() => true, () => false);

const figures: Figure[] = [];
const notes: string[] = [];
const figure = (name: string, value: number, unit = "s") => figures.push({ name, value, unit });

const work = await mkdtemp(join(tmpdir(), "imagesmith-launch-bench-"));
const dataDir = join(work, "data");
let guestDir: string | undefined;
let bare: ChildProcess | undefined;
// On Ctrl-C too: no VM and no temp dir left behind.
const onSignal = (signal: NodeJS.Signals) => {
  bare?.kill("SIGKILL");
  void killVmsOf(dataDir).finally(() => {
    rmSync(work, { recursive: true, force: true });
    if (guestDir) rmSync(guestDir, { recursive: true, force: true });
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
};
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);

let daemon: Daemon | undefined;
let live: string | undefined;
try {
  daemon = await startDaemon({ dataDir, listen: "127.0.0.1:0", ec2Listen: "off", accelerator: "tcg", logLevel: "warn" });
  const client = new Client(daemon.url, (await readFile(join(dataDir, "admin-token"), "utf8")).trim());

  const importDisk = async (file: string, name: string) => {
    const { image, operation } = await client.importImage(file, { name, osType: "linux" });
    const op = await client.waitOperation(operation.id);
    if (op.state !== "succeeded") throw new Error(`Import of ${name} failed: ${op.error?.message ?? op.state}`);
    const snapshotId = (await client.getImage(image.id)).blockDeviceMappings[0]?.snapshotId;
    if (!snapshotId) throw new Error(`Image ${image.id} has no root snapshot`);
    return { imageId: image.id, snapshotId };
  };
  const basePath = (snapshotId: string) => join(dataDir, "cache", `${snapshotId}.qcow2`);

  /**
   * The first volume of a snapshot: it materializes the base. Watching cache/ tells the two
   * phases apart: chunks restored to a sparse raw (snap-….qcow2.raw), then qemu-img convert
   * to the qcow2 base (snap-….qcow2.part appears when it starts).
   */
  const firstProvisioning = async (snapshotId: string) => {
    if (await exists(basePath(snapshotId))) notes.push(`${snapshotId} was cached before its first volume: the import materialized it`);
    const t = now();
    let convertAt: number | undefined;
    let watching = true;
    const watch = (async () => {
      while (watching && convertAt === undefined) {
        if (await exists(`${basePath(snapshotId)}.part`)) convertAt = since(t);
        else await sleep(10);
      }
    })();
    const volume = await client.createVolume({ snapshotId });
    const seconds = since(t);
    watching = false;
    await watch;
    if (volume.state !== "available") throw new Error(`Volume ${volume.id} is ${volume.state}, not available`);
    await client.deleteVolume(volume.id);
    return { seconds, restore: convertAt ?? NaN, convert: convertAt === undefined ? NaN : seconds - convertAt };
  };

  // ---- 1. Provisioning from a cached image -------------------------------------------------
  // The same 200 MiB of random data in each disk: 160 MiB at the start, 10 MiB at a quarter,
  // half and three quarters of the disk and 10 MiB at its end; the rest never written. Made as
  // a sparse raw, uploaded as qcow2 (~200 MiB whatever the virtual size).
  console.log("preparing 1, 10 and 100 GiB qcow2 disks holding the same 200 MiB of random data …");
  await sh(`head -c ${200 * MiB} /dev/urandom > ${work}/data.bin`);
  const disks = new Map<Size, string>();
  for (const size of sizes) {
    const raw = join(work, `disk-${size}g.raw`);
    const totalMiB = size * 1024;
    const places = [totalMiB / 4, totalMiB / 2, (3 * totalMiB) / 4, totalMiB - 10];
    await sh(`truncate -s ${size}G ${raw} && dd if=${work}/data.bin of=${raw} bs=1M count=160 conv=notrunc status=none`);
    for (const [k, at] of places.entries()) await sh(`dd if=${work}/data.bin of=${raw} bs=1M skip=${160 + 10 * k} count=10 seek=${at} conv=notrunc status=none`);
    const qcow2 = join(work, `disk-${size}g.qcow2`);
    await sh(`qemu-img convert -f raw -O qcow2 ${raw} ${qcow2} && rm ${raw}`);
    disks.set(size, qcow2);
  }
  await rm(join(work, "data.bin"));

  const snaps = new Map<Size, string>();
  for (const size of sizes) {
    const up = await timed(() => importDisk(disks.get(size) ?? "", `bench-${size}g`));
    snaps.set(size, up.value.snapshotId);
    console.log(`imported ${size} GiB (${((await stat(disks.get(size) ?? "")).size / MiB).toFixed(0)} MiB qcow2): ${secs(up.seconds)} (not counted below)`);
  }

  // The peer: a full copy of the image's disk into a new boot disk, from the page cache.
  const convert = new Map<Size, number[]>(sizes.map((s) => [s, []]));
  for (let r = 0; r < provisionRuns; r++) {
    for (const size of sizes) {
      const out = join(work, `copy-${size}g.qcow2`);
      convert.get(size)?.push((await timed(() => sh(`qemu-img convert -f qcow2 -O qcow2 ${disks.get(size)} ${out}`))).seconds);
      await rm(out);
    }
  }

  // The peer: copying a 10 GiB image, i.e. one whose 10 GiB are all data (a copy of a
  // mostly empty disk costs only its data, as the convert above shows). Written once, not imported:
  // cached provisioning does not depend on the data an image holds, only its overlay is made.
  const full = join(work, "full-10g.raw");
  await sh(`yes imagesmith-bench-data | head -c 10G > ${full}`);
  const fullConvert: number[] = [];
  for (let r = 0; r < Math.min(provisionRuns, 3); r++) {
    fullConvert.push((await timed(() => sh(`qemu-img convert -f raw -O qcow2 ${full} ${work}/full-copy.qcow2`))).seconds);
    await rm(join(work, "full-copy.qcow2"));
  }
  await rm(full);

  const first = new Map<Size, Awaited<ReturnType<typeof firstProvisioning>>>();
  for (const size of sizes) first.set(size, await firstProvisioning(snaps.get(size) ?? ""));

  // Cached: a volume of the snapshot, request to answer (POST /v1/volumes answers 201 with the
  // volume available: its overlay is made). Sizes interleaved, so noise falls on all of them.
  const cached = new Map<Size, number[]>(sizes.map((s) => [s, []]));
  for (let r = 0; r < provisionRuns; r++) {
    for (const size of sizes) {
      const v = await timed(() => client.createVolume({ snapshotId: snaps.get(size) ?? "" }));
      if (v.value.state !== "available") throw new Error(`Volume ${v.value.id} is ${v.value.state}, not available`);
      cached.get(size)?.push(v.seconds);
      await client.deleteVolume(v.value.id);
    }
  }
  // Where the cached time goes: the qemu-img create of the overlay alone, on the same bases.
  const overlayOnly = new Map<Size, number[]>(sizes.map((s) => [s, []]));
  for (let r = 0; r < provisionRuns; r++) {
    for (const size of sizes) {
      const out = join(work, "overlay.qcow2");
      overlayOnly.get(size)?.push((await timed(() => sh(`qemu-img create -q -f qcow2 -b ${basePath(snaps.get(size) ?? "")} -F qcow2 ${out}`))).seconds);
      await rm(out);
    }
  }
  const baseBytes = new Map<Size, number>();
  for (const size of sizes) baseBytes.set(size, (await stat(basePath(snaps.get(size) ?? ""))).blocks * 512);

  console.log();
  console.log("provisioning a boot volume".padEnd(44), ...sizes.map((s) => `${s} GiB`.padStart(11)));
  const row = (what: string, f: (s: Size) => number) => console.log(what.padEnd(44), ...sizes.map((s) => secs(f(s)).padStart(11)));
  row("qemu-img convert -O qcow2 (median)", (s) => median(convert.get(s) ?? []));
  row("imagesmith first provisioning (materialize)", (s) => first.get(s)?.seconds ?? NaN);
  row("  restore chunks to a sparse raw", (s) => first.get(s)?.restore ?? NaN);
  row("  qemu-img convert raw → qcow2 base, rest", (s) => first.get(s)?.convert ?? NaN);
  row(`imagesmith cached provisioning (median of ${provisionRuns})`, (s) => median(cached.get(s) ?? []));
  row("  fastest", (s) => Math.min(...(cached.get(s) ?? [])));
  row("  slowest", (s) => Math.max(...(cached.get(s) ?? [])));
  row("  of which qemu-img create of the overlay", (s) => median(overlayOnly.get(s) ?? []));
  console.log("cached base, allocated".padEnd(44), ...sizes.map((s) => `${((baseBytes.get(s) ?? 0) / MiB).toFixed(0)} MiB`.padStart(11)));

  for (const size of sizes) {
    figure(`qemu-img convert ${size} GiB`, median(convert.get(size) ?? []));
    figure(`first provisioning ${size} GiB`, first.get(size)?.seconds ?? NaN);
    figure(`first provisioning ${size} GiB: restore chunks`, first.get(size)?.restore ?? NaN);
    figure(`first provisioning ${size} GiB: convert to qcow2 base`, first.get(size)?.convert ?? NaN);
    figure(`cached provisioning ${size} GiB`, median(cached.get(size) ?? []));
    figure(`qemu-img create overlay alone ${size} GiB`, median(overlayOnly.get(size) ?? []));
  }
  figure("qemu-img convert of a 10 GiB image full of data", median(fullConvert));
  notes.push(
    "qemu-img convert copies only allocated clusters: each imported disk holds the same 200 MiB, so its copy costs the same at every virtual size; the ≥ 100× target is measured against the copy of a 10 GiB raw image full of data. " +
      "qemu-img create of the overlay alone is measured on the same cached bases, outside the daemon.",
  );
  const c = (s: Size) => median(cached.get(s) ?? []);
  const ratios = [
    atMost("cached provisioning 100 GiB / 1 GiB", c(100) / c(1), 1.1),
    atLeast("qemu-img convert of a full 10 GiB image / cached provisioning", median(fullConvert) / c(10), 100),
    { name: "qemu-img convert 10 GiB (200 MiB of data) / cached provisioning", value: median(convert.get(10) ?? []) / c(10), target: "(shown)", met: true },
    atLeast("qemu-img convert 10 GiB / first provisioning 10 GiB", median(convert.get(10) ?? []) / (first.get(10)?.seconds ?? NaN), 1),
  ];

  // ---- 2. Boot overhead ----------------------------------------------------------------------
  if (!values["skip-boot"]) {
    const guest = await tinyGuest();
    guestDir = dirname(guest);
    const tiny = await importDisk(guest, "tiny");
    const tinyFirst = await firstProvisioning(tiny.snapshotId);
    figure("first provisioning tiny guest (256 MiB)", tinyFirst.seconds);

    // The bare guest gets the same hardware and an equivalent NoCloud seed (xorriso, label
    // cidata, the same files the daemon writes), so its agent does the same first-boot work.
    const seed = join(work, "seed.iso");
    const mac = "52:54:00:12:34:56";
    await new IsoConfigDrive().build(seed, {
      format: "nocloud",
      instanceId: "i-0bench0000000000a",
      hostname: "i-0bench0000000000a",
      publicKeys: [],
      userData: null,
      password: null,
      macAddress: mac,
      phoneHomeUrl,
      answerFile: null,
    });
    const bareBoot = async (n: number) => {
      const overlay = join(work, `bare-${n}.qcow2`);
      await sh(`qemu-img create -q -f qcow2 -b ${guest} -F qcow2 ${overlay}`);
      const args = [
        "-machine", "pc", "-accel", "tcg", "-cpu", "max",
        "-smp", String(instanceType.vcpus), "-m", String(instanceType.memoryMiB),
        "-uuid", "6c1d0b4e-8a58-4f39-9d2b-6a7c1e0f0b01",
        "-nodefaults", "-no-user-config", "-display", "none",
        "-serial", "stdio",
        "-qmp", `unix:${work}/bare-${n}.qmp,server=on,wait=off`,
        "-drive", `file=${overlay},if=none,id=boot,format=qcow2,discard=unmap`,
        "-device", "virtio-blk-pci,drive=boot,bootindex=0",
        "-netdev", "user,id=net0",
        "-device", `virtio-net-pci,netdev=net0,mac=${mac},romfile=`,
        "-device", "virtio-serial-pci",
        "-chardev", `socket,id=qga0,path=${work}/bare-${n}.qga,server=on,wait=off`,
        "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
        "-drive", `file=${seed},if=none,id=cidata,media=cdrom,readonly=on,format=raw`,
        "-device", "ide-cd,drive=cidata,bus=ide.1",
      ];
      const t = now();
      const child = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
      bare = child;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      let text = "";
      let stderr = "";
      child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString("utf8")).slice(-4096)));
      try {
        return await new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`The bare guest did not print its ready line within 300 s:\n${text.slice(-2000)}`)), 300_000);
          child.stdout.on("data", (b: Buffer) => {
            text = (text + b.toString("utf8")).slice(-65536);
            if (readyLine.test(text)) {
              clearTimeout(timer);
              resolve(since(t));
              if (!/config drive found/.test(text) || !/specialize complete/.test(text)) notes.push(`bare boot ${n + 1}: the guest did not find its seed or did not specialize`);
            }
          });
          void exited.then(() => {
            clearTimeout(timer);
            reject(new Error(`qemu-system-x86_64 exited before the ready line: ${stderr}`));
          });
        });
      } finally {
        child.kill("SIGKILL");
        await exited;
        bare = undefined;
        await rm(overlay, { force: true });
      }
    };

    // Launch request → instance running → ready line in its console.log → status check ok
    // (polled every 100 ms: the status check is no state change, so it has no event).
    const launch = async () => {
      const t = now();
      const [inst] = await client.runInstances({ imageId: tiny.imageId, count: 1, instanceType: instanceType.name });
      if (!inst) throw new Error("The launch answered no instance");
      live = inst.id;
      const consoleLog = join(dataDir, "instances", inst.id, "console.log");
      let running = NaN;
      let line = NaN;
      for (;;) {
        const i = await client.getInstance(inst.id);
        if (Number.isNaN(running) && i.state === "running") running = since(t);
        if (Number.isNaN(line) && readyLine.test(await readFile(consoleLog, "utf8").catch(() => ""))) line = since(t);
        if (i.state === "running" && i.statusCheck === "ok") {
          const ready = since(t);
          if (Number.isNaN(line)) line = ready;
          await terminate(inst.id);
          return { ready, running, line };
        }
        if (i.statusCheck === "impaired" || i.state === "terminated" || i.state === "stopped") {
          throw new Error(`Instance ${inst.id} is ${i.state}/${i.statusCheck}: ${i.statusReason ?? i.stateReason ?? "no reason given"}`);
        }
        if (since(t) > 300) throw new Error(`Instance ${inst.id} was not ready within 300 s`);
        await sleep(100);
      }
    };
    const terminate = async (id: string) => {
      await client.instanceAction(id, "terminate");
      await client.waitInstances([id], "terminated", { timeoutMs: 120_000 });
      for (let k = 0; (await qemuPids(id)).length > 0 && k < 100; k++) await sleep(100);
      live = undefined;
    };

    console.log(`\nbooting the tiny guest ${bootRuns}× bare and ${bootRuns}× through imagesmith (TCG, one VM at a time) …`);
    const bareTimes: number[] = [];
    const launches: { ready: number; running: number; line: number }[] = [];
    // Interleaved, so that a noisy minute falls on both.
    for (let n = 0; n < bootRuns; n++) {
      bareTimes.push(await bareBoot(n));
      launches.push(await launch());
      console.log(`  run ${n + 1}: bare ${secs(bareTimes[n] ?? NaN)}, imagesmith ${secs(launches[n]?.ready ?? NaN)}`);
    }
    const bareMed = median(bareTimes);
    const readyMed = median(launches.map((l) => l.ready));
    console.log();
    console.log(`boot to "imagesmith-guest: ready" (median of ${bootRuns})`.padEnd(58), "seconds".padStart(9));
    const bootRow = (what: string, s: number) => console.log(what.padEnd(58), s.toFixed(2).padStart(9));
    bootRow("bare qemu-system-x86_64, spawn → ready line on stdout", bareMed);
    bootRow("imagesmith, launch request → state running", median(launches.map((l) => l.running)));
    bootRow("imagesmith, launch request → ready line in console.log", median(launches.map((l) => l.line)));
    bootRow("imagesmith, launch request → status check ok", readyMed);
    bootRow("first provisioning of the tiny guest (before the boots)", tinyFirst.seconds);
    figure("bare qemu boot to ready line", bareMed);
    figure("launch to running", median(launches.map((l) => l.running)));
    figure("launch to ready line in console", median(launches.map((l) => l.line)));
    figure("launch to ready (status check ok)", readyMed);
    ratios.push(atMost("launch-to-ready / bare qemu boot", readyMed / bareMed, 1.2));
    notes.push(
      "The bare boot gets the same -machine pc -cpu max -smp 1 -m 256, virtio disk (a qcow2 overlay on the same disk), virtio NIC, virtio-serial agent port, QMP socket and an equivalent NoCloud seed (cidata ISO by xorriso, same files). " +
        "It lacks the guestfwd of the guest endpoint (used only by the phone-home, after the ready line) and -daemonize; it is timed from spawn to the line on a pipe, imagesmith from the launch request to the status check, which it finds by polling console.log every 500 ms (here polled every 100 ms).",
    );
    notes.push("Every launch uses the cached base of the tiny guest: its first materialize is the 'first provisioning tiny guest' figure, before the boots.");
  }

  notes.push(`qemu-img convert reads the source qcow2 from the page cache and writes without sync; the materialize's chunks were just written and are in the page cache too.`);
  const result: BenchResult = { bench: "launch-bench", figures, ratios, notes };
  console.log();
  for (const r of result.ratios) console.log(`${r.name.padEnd(56)} ${r.value.toFixed(2).padStart(9)}  target ${r.target.padEnd(6)} ${r.met ? "met" : "NOT met"}`);
  for (const n of notes) console.log(`note: ${n}`);
  report(result);
} finally {
  if (daemon && live) {
    const client = new Client(daemon.url, (await readFile(join(dataDir, "admin-token"), "utf8").catch(() => "")).trim());
    await client.instanceAction(live, "terminate").catch(() => undefined);
  }
  bare?.kill("SIGKILL");
  await daemon?.close();
  await killVmsOf(dataDir);
  await rm(work, { recursive: true, force: true });
  if (guestDir) await rm(guestDir, { recursive: true, force: true });
  process.removeListener("SIGINT", onSignal);
  process.removeListener("SIGTERM", onSignal);
}

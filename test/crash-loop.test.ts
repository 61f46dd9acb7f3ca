import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import type { Client } from "../src/client/client.ts";
import { removeDir, seededRandom, spawnDaemon, tinyGuest, waitFor } from "./helpers.ts";

const run = promisify(execFile);
type Daemon = Awaited<ReturnType<typeof spawnDaemon>>;

const kills = 20;
const seed = Number(process.env.IMAGESMITH_CRASH_SEED ?? Date.now() % 100_000);
const liveStates = new Set(["pending", "running", "rebooting", "stopping", "shutting-down"]);


/** Instance ids of the QEMU processes running now on disks of this data dir. */
async function qemuInstances(dataDir: string): Promise<string[]> {
  const { stdout } = await run("pgrep", ["-af", "process=imagesmith-i-"]).catch(() => ({ stdout: "" }));
  return stdout
    .split("\n")
    .filter((line) => line.includes(`${dataDir}/`))
    .flatMap((line) => [.../process=imagesmith-(i-[0-9a-f]{17})/.exec(line)?.slice(1) ?? []]);
}

/** Files in a folder of the data dir whose names say they are left over from work under way. */
async function leftovers(dir: string, pattern: RegExp): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((f) => pattern.test(f));
}

async function waitSettled(client: Client): Promise<void> {
  await waitFor("terminations to finish", async () => ((await client.listInstances()).some((i) => i.state === "shutting-down") ? undefined : true), 60_000);
}

describe(`SIGKILL of the daemon at random moments, ${kills} times (seed ${seed})`, { timeout: 1_800_000 }, () => {
  const rnd = seededRandom(seed);
  let dir: string;
  let d: Daemon;
  let disk: string;
  let baseImage: string;
  let source: string;
  let sourceVolume: string;
  let baseSnapshot: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagesmith-crash-"));
    d = await spawnDaemon(dir);
    disk = await tinyGuest();
    const imported = await d.client.importImage(disk, { name: "base", osType: "linux" });
    assert.equal((await d.client.waitOperation(imported.operation.id)).state, "succeeded");
    baseImage = imported.image.id;
    baseSnapshot = imported.image.blockDeviceMappings[0]?.snapshotId ?? "";
    const [inst] = await d.client.runInstances({ imageId: baseImage, count: 1 });
    assert.ok(inst);
    source = inst.id;
    sourceVolume = inst.bootVolumeId;
    await d.client.waitInstances([source], "ready", { timeoutMs: 300_000 });
  });

  after(async () => {
    for (const id of await qemuInstances(dir)) {
      const { stdout } = await run("pgrep", ["-f", `process=imagesmith-${id}`]).catch(() => ({ stdout: "" }));
      for (const pid of stdout.split("\n").filter(Boolean)) process.kill(Number(pid), "SIGKILL");
    }
    await d.kill("SIGTERM").catch(() => undefined);
    await removeDir(dir);
  });

  /** Starts one piece of work of each kind the issue names; errors from a dying daemon are expected. */
  function startWork(n: number): Promise<unknown>[] {
    const work: Promise<unknown>[] = [];
    const kinds = ["import", "capture", "launch", "volume", "snapshot"].filter(() => rnd() < 0.6);
    if (kinds.length === 0) kinds.push("import");
    for (const kind of kinds) {
      if (kind === "import") work.push(d.client.importImage(disk, { name: `import-${n}`, osType: "linux" }));
      if (kind === "capture") work.push(d.client.createImage({ instanceId: source, name: `capture-${n}`, noReboot: true }));
      if (kind === "launch") work.push(d.client.runInstances({ imageId: baseImage, count: 1 }));
      if (kind === "volume") work.push(d.client.createVolume({ snapshotId: baseSnapshot }));
      if (kind === "snapshot") work.push(d.client.createSnapshot({ volumeId: sourceVolume }));
    }
    return work.map((w) => w.catch(() => undefined));
  }

  /** What must hold after every restart. */
  async function checkInvariants(round: number): Promise<void> {
    const at = `after kill ${round}`;
    const volumes = await d.client.listVolumes();
    assert.deepEqual(volumes.filter((v) => v.state === "creating").map((v) => v.id), [], `${at}: no volume is left creating`);
    const images = await d.client.listImages({});
    const failed = await d.client.listImages({ state: "failed" });
    assert.deepEqual(images.filter((i) => i.state === "pending").map((i) => i.id), [], `${at}: no image is left pending`);
    for (const i of failed) assert.ok(i.stateReason, `${at}: failed image ${i.id} says why`);
    const snapshots = await d.client.listSnapshots();
    assert.deepEqual(snapshots.filter((s) => s.state === "pending").map((s) => s.id), [], `${at}: no snapshot is left pending`);
    for (const image of images.filter((i) => i.state === "available")) {
      for (const m of image.blockDeviceMappings) {
        assert.equal(snapshots.find((s) => s.id === m.snapshotId)?.state, "completed", `${at}: available image ${image.id} has only completed snapshots`);
      }
    }
    const ops = await d.client.listOperations();
    for (const op of ops.filter((o) => o.kind !== "storage-scrub")) {
      assert.notEqual(op.state, "running", `${at}: operation ${op.id} (${op.kind}) is not left running`);
      if (op.state === "failed") assert.ok(op.error?.message, `${at}: failed operation ${op.id} says why`);
    }
    const scrub = await d.client.waitOperation((await d.client.storageOperation("scrub")).id);
    assert.equal(scrub.state, "succeeded", `${at}: scrub ran: ${scrub.error?.message ?? ""}`);
    assert.deepEqual((scrub.result as { corrupt: unknown[] }).corrupt, [], `${at}: scrub finds every chunk of every completed snapshot`);
    assert.deepEqual(await leftovers(join(dir, "tmp"), /./), [], `${at}: no temporary file is left`);
    assert.deepEqual(await leftovers(join(dir, "cache"), /\.(part|raw)$/), [], `${at}: no partial cache base is left`);
    assert.deepEqual(await leftovers(join(dir, "exports"), /\.part$/), [], `${at}: no partial export is left`);
    await waitSettled(d.client);
    const instances = await d.client.listInstances();
    for (const id of await qemuInstances(dir)) {
      const inst = instances.find((i) => i.id === id);
      assert.ok(inst && liveStates.has(inst.state), `${at}: QEMU of ${id} belongs to a live instance (it is ${inst?.state ?? "unknown"})`);
    }
  }

  it("leaves state that a restart resumes or fails with a reason, every time", async () => {
    for (let round = 1; round <= kills; round++) {
      const work = startWork(round);
      await new Promise((r) => setTimeout(r, 50 + rnd() * 1500));
      await d.kill("SIGKILL");
      await Promise.all(work);
      d = await spawnDaemon(dir);
      await checkInvariants(round);
      // The source keeps running through every crash (the daemon reattaches to it).
      assert.equal((await d.client.getInstance(source)).state, "running", `after kill ${round}: the source instance runs`);
      // Launched copies go again, so that few VMs run at once.
      for (const i of await d.client.listInstances()) {
        if (i.id !== source && liveStates.has(i.state) && i.state !== "shutting-down") await d.client.instanceAction(i.id, "terminate").catch(() => undefined);
      }
    }
    await waitSettled(d.client);
    const tally = new Map<string, number>();
    for (const op of await d.client.listOperations()) tally.set(`${op.kind} ${op.state}`, (tally.get(`${op.kind} ${op.state}`) ?? 0) + 1);
    const volumes = await d.client.listVolumes();
    process.stdout.write(`# crash loop: operations ${JSON.stringify(Object.fromEntries([...tally].sort()))}; volumes in error ${volumes.filter((v) => v.state === "error").length}\n`);
    // After all that, the source still answers on its console and the store is whole.
    const ready = await d.client.createImage({ instanceId: source, name: "after-the-crashes", noReboot: true });
    assert.equal((await d.client.waitOperation(ready.operation.id)).state, "succeeded");
  });
});

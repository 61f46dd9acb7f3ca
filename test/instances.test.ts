import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Instance } from "../src/client/client.ts";
import { qemuPids, removeDir, startTestDaemon, tinyGuest, type TestDaemon } from "./helpers.ts";

describe("instances on real QEMU", { timeout: 900_000 }, () => {
  let d: TestDaemon;
  let imageId: string;
  let keyFile: string;
  let instances: Instance[] = [];

  const ssh = async (id: string, command: string) => {
    const r = await d.cli(["instance", "ssh", id, "--key", keyFile, "--", command]);
    assert.equal(r.code, 0, `ssh to ${id} failed: ${r.stderr}`);
    return r.stdout.trim();
  };

  before(async () => {
    d = await startTestDaemon();
    const disk = await tinyGuest();
    keyFile = join(d.dataDir, "..", `${d.dataDir.split("/").pop()}-K.pem`);
    const key = await d.cli(["--output", "json", "keypair", "create", "--name", "K", "--out", keyFile]);
    assert.equal(key.code, 0, key.stderr);
    assert.equal(((await stat(keyFile)).mode & 0o777).toString(8), "600");
    const imported = await d.cli(["--output", "json", "image", "import", "--file", disk, "--name", "tiny", "--os", "linux"]);
    assert.equal(imported.code, 0, imported.stderr);
    const image = JSON.parse(imported.stdout) as { id: string; state: string };
    assert.equal(image.state, "available");
    imageId = image.id;
  });

  after(async () => {
    for (const inst of instances) for (const pid of await qemuPids(inst.id)) process.kill(Number(pid), "SIGKILL");
    await d?.close();
    if (d) await removeDir(d.dataDir);
  });

  it("launches 2 instances that report ready and answer SSH with the key pair, each with its own hostname", async () => {
    const run = await d.cli(["--output", "json", "instance", "run", "--image", imageId, "--key", "K", "--count", "2"]);
    assert.equal(run.code, 0, run.stderr);
    instances = JSON.parse(run.stdout) as Instance[];
    assert.equal(instances.length, 2);
    assert.ok(instances.every((i) => i.state === "pending"));
    assert.match(instances[0]?.reservationId ?? "", /^r-[0-9a-f]{17}$/);
    assert.equal(instances[1]?.reservationId, instances[0]?.reservationId, "one launch, one reservation");
    assert.deepEqual(instances.map((i) => i.clientToken), [null, null]);
    const ids = instances.map((i) => i.id);
    const waited = await d.cli(["--output", "json", "instance", "wait", "ready", ...ids]);
    assert.equal(waited.code, 0, waited.stderr);
    const running = JSON.parse(waited.stdout) as Instance[];
    for (const inst of running) {
      assert.equal(inst.ready, true);
      assert.ok(inst.sshPort && inst.sshPort > 0);
      assert.equal(await ssh(inst.id, "hostname"), inst.id);
    }
    assert.notEqual(running[0]?.macAddress, running[1]?.macAddress);
    assert.notEqual(running[0]?.smbiosUuid, running[1]?.smbiosUuid);
    const console = await d.cli(["instance", "console", ids[0] ?? ""]);
    assert.match(console.stdout, /imagesmith-guest: ready/);
    // Every state change is an event, in order, for waiters that would rather not poll.
    const events = await d.cli(["--output", "json", "events", "--resource", ids[0] ?? ""]);
    const changes = events.stdout.trim().split("\n").map((l) => JSON.parse(l) as { fromState: string | null; toState: string });
    assert.deepEqual(changes.map((e) => [e.fromState, e.toState]), [[null, "pending"], ["pending", "running"]]);
    const { events: none, next } = await d.client.events({ after: Number.MAX_SAFE_INTEGER - 1 });
    assert.deepEqual([none, next], [[], Number.MAX_SAFE_INTEGER - 1]);
  });

  it("finds its running VMs again after a daemon restart", async () => {
    const dataDir = d.dataDir;
    await d.close({ keepVms: true });
    d = await startTestDaemon(dataDir);
    for (const inst of instances) {
      const now = await d.client.getInstance(inst.id);
      assert.equal(now.state, "running");
      assert.equal(now.reservationId, inst.reservationId, "the reservation is kept");
      assert.equal((await qemuPids(inst.id)).length, 1);
    }
    assert.equal(await ssh(instances[0]?.id ?? "", "echo still-here"), "still-here");
  });

  it("stops and starts an instance, keeping what was written to its disk", async () => {
    const id = instances[0]?.id ?? "";
    await ssh(id, "echo kept > /root/note && sync");
    assert.equal((await d.cli(["instance", "stop", id])).code, 0);
    assert.equal((await d.cli(["instance", "wait", "stopped", id])).code, 0);
    assert.deepEqual(await qemuPids(id), []);
    const stopped = await d.client.getInstance(id);
    assert.equal(stopped.sshPort, null);
    assert.equal((await d.cli(["instance", "start", id])).code, 0);
    assert.equal((await d.cli(["instance", "wait", "ready", id])).code, 0);
    assert.equal(await ssh(id, "cat /root/note"), "kept");
  });

  it("terminates both instances: no QEMU process and no overlay file remain", async () => {
    const volumes = instances.map((i) => join(d.dataDir, "volumes", `${i.bootVolumeId}.qcow2`));
    for (const v of volumes) await stat(v);
    for (const inst of instances) assert.equal((await d.cli(["instance", "terminate", inst.id])).code, 0);
    const done = await d.cli(["--output", "json", "instance", "wait", "terminated", ...instances.map((i) => i.id)]);
    assert.equal(done.code, 0, done.stderr);
    for (const inst of instances) assert.deepEqual(await qemuPids(inst.id), []);
    for (const v of volumes) await assert.rejects(stat(v), { code: "ENOENT" });
  });
});

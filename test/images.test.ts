import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Client, Image, Instance } from "../src/client/client.ts";
import { qemuPids, removeDir, sh, spawnDaemon, startTestDaemon, tinyGuest, type TestDaemon } from "./helpers.ts";

type Daemon = Awaited<ReturnType<typeof spawnDaemon>>;
const sshOpts = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR";

describe("custom images from instances", { timeout: 1_800_000 }, () => {
  let d: Daemon;
  let dir: string;
  let work: string;
  let logFile: string;
  let keyFile: string;
  let baseImage: string;
  let source: Instance;
  const launched: string[] = [];
  const plaintexts: string[] = [];

  const ssh = async (id: string, cmd: string) => {
    const r = await d.cli(["instance", "ssh", id, "--key", keyFile, "--", cmd]);
    assert.equal(r.code, 0, `ssh ${id} ${cmd}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const run = async (req: Parameters<Client["runInstances"]>[0]) => {
    const instances = await d.client.runInstances(req);
    launched.push(...instances.map((i) => i.id));
    return d.client.waitInstances(instances.map((i) => i.id), "ready", { timeoutMs: 600_000 });
  };
  const capture = async (args: string[]) => {
    const r = await d.cli(["--output", "json", "image", "create", ...args]);
    assert.equal(r.code, 0, r.stderr);
    const pending = JSON.parse(r.stdout) as Image;
    assert.equal(pending.state, "pending", "image create returns the image pending at once");
    const w = await d.cli(["--output", "json", "image", "wait", "available", pending.id, "--timeout", "900"]);
    return { pending, waited: w, image: await d.client.getImage(pending.id) };
  };
  const identity = (id: string) => ssh(id, 'echo "$(hostname) $(cat /etc/machine-id) $(dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key | grep -o "SHA256:[^ ]*")"');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagesmith-images-"));
    work = await mkdtemp(join(tmpdir(), "imagesmith-images-work-"));
    logFile = join(work, "daemon.log");
    // Chunks stored as they are: the plaintext search below reads the guest disks' chunks too.
    d = await spawnDaemon(dir, { logFile, extraArgs: ["--compression", "none"] });
    keyFile = join(work, "K.pem");
    assert.equal((await d.cli(["keypair", "create", "--name", "K", "--out", keyFile])).code, 0);
    const imported = await d.client.importImage(await tinyGuest(), { name: "tiny", osType: "linux" });
    assert.equal((await d.client.waitOperation(imported.operation.id)).state, "succeeded");
    baseImage = imported.image.id;
    const [s] = await run({ imageId: baseImage, count: 1, keyName: "K" });
    assert.ok(s);
    source = s;
    await ssh(source.id, "echo kept-file > /root/file; echo 'secret-history-line' > /root/.ash_history; sync");
  });

  after(async () => {
    for (const id of launched) for (const pid of await qemuPids(id)) process.kill(Number(pid), "SIGKILL");
    await d?.kill("SIGTERM");
    if (dir) await removeDir(dir);
    if (work) await removeDir(work);
  });

  it("captures a generalized image while the source keeps running; 3 launches get the data, not the identity, and each its own", async () => {
    const before = await identity(source.id);
    // --remove-user: the default user's keys go too (deprovision+user); launches get theirs from the config drive.
    const { image, waited } = await capture(["--instance", source.id, "--name", "golden-1", "--generalize", "--remove-user", "--no-reboot", "--tag", "env=test"]);
    assert.equal(waited.code, 0, waited.stderr);
    assert.equal(image.state, "available");
    assert.equal(image.osState, "generalized");
    assert.equal(image.sourceInstanceId, source.id);
    // The tiny guest runs qemu-ga: its filesystems were frozen for the copy.
    assert.equal(image.consistency, "fs-frozen");
    // Its snapshots say how their data was read too, and an image registered from one inherits it.
    const rootSnap = await d.client.getSnapshot(image.blockDeviceMappings[0]?.snapshotId ?? "");
    assert.equal(rootSnap.consistency, "fs-frozen");
    const registered = await d.client.registerImage({ name: "golden-1-registered", snapshotId: rootSnap.id, osType: "linux", osState: "generalized" });
    assert.equal(registered.consistency, "fs-frozen");
    await d.client.deregisterImage(registered.id, false);
    assert.equal((await d.client.getInstance(source.id)).state, "running");
    assert.equal(await ssh(source.id, "echo still-here"), "still-here");

    const three = await run({ imageId: image.id, count: 3, keyName: "K" });
    const ids = await Promise.all(three.map((i) => identity(i.id)));
    assert.equal(new Set([before, ...ids].map((x) => x.split(" ")[0])).size, 4, "hostnames differ");
    assert.equal(new Set([before, ...ids].map((x) => x.split(" ")[1])).size, 4, "machine-ids differ");
    assert.equal(new Set([before, ...ids].map((x) => x.split(" ")[2])).size, 4, "SSH host keys differ");
    assert.equal(new Set(three.map((i) => i.macAddress)).size, 3);
    assert.equal(new Set(three.map((i) => i.smbiosUuid)).size, 3);
    for (const inst of three) {
      assert.equal(await ssh(inst.id, "cat /root/file"), "kept-file");
      assert.equal(await ssh(inst.id, "cat /root/.ash_history 2>/dev/null; true"), "");
      assert.equal(inst.adminPasswordMode, "random");
      assert.ok(inst.passwordSetAt, "the guest reported the password set before ready");
    }
    // The random password, decrypted locally with the private key, logs in over SSH.
    const first = three[0] as Instance;
    const pw = await d.cli(["instance", "get-password", first.id, "--key", keyFile]);
    assert.equal(pw.code, 0, pw.stderr);
    const password = pw.stdout.trim();
    assert.match(password, /^[A-Za-z0-9_-]{20,}$/);
    plaintexts.push(password);
    const cipher = JSON.parse((await d.cli(["--output", "json", "instance", "get-password", first.id])).stdout) as { passwordData: string };
    assert.equal(cipher.passwordData, (await d.client.passwordData(first.id)).passwordData);
    const login = await sh(`sshpass -p '${password}' ssh ${sshOpts} -o PubkeyAuthentication=no -p ${first.sshPort} root@127.0.0.1 echo logged-in-with-password`);
    assert.equal(login, "logged-in-with-password");
    const wrong = await sh(`sshpass -p 'not-the-password' ssh ${sshOpts} -o PubkeyAuthentication=no -p ${first.sshPort} root@127.0.0.1 true; echo $?`);
    assert.notEqual(wrong, "0");
    // Filters: by name wildcard, osState, tag and source instance.
    const byAll = await d.client.listImages({ name: "golden-*", osState: "generalized", tag: ["env=te*"], sourceInstanceId: source.id });
    assert.deepEqual(byAll.map((i) => i.id), [image.id]);
    assert.deepEqual(await d.client.listImages({ tag: ["env=prod"] }), []);
  });

  it("launches a specified password without storing it, and with it the SSH login works", async () => {
    const secret = `Sp3cified-${Date.now()}`;
    plaintexts.push(secret);
    const file = join(work, "pw.txt");
    await writeFile(file, `${secret}\n`, { mode: 0o600 });
    const images = await d.client.listImages({ name: "golden-1" });
    const key2 = join(work, "K2.pem");
    assert.equal((await d.cli(["keypair", "create", "--name", "K2", "--out", key2])).code, 0);
    const r = await d.cli(["--output", "json", "instance", "run", "--image", images[0]?.id ?? "", "--key", "K2", "--admin-password-file", file, "--wait"]);
    assert.equal(r.code, 0, r.stderr);
    const [inst] = JSON.parse(r.stdout) as Instance[];
    assert.ok(inst);
    launched.push(inst.id);
    assert.equal(inst.adminPasswordMode, "specify");
    assert.equal(await sh(`sshpass -p '${secret}' ssh ${sshOpts} -o PubkeyAuthentication=no -p ${inst.sshPort} root@127.0.0.1 echo ok`), "ok");
    // The image kept no authorized key of the source's user: K2 gets in, K does not.
    assert.equal(await sh(`ssh -i ${key2} ${sshOpts} -o BatchMode=yes -p ${inst.sshPort} root@127.0.0.1 echo k2`), "k2");
    assert.notEqual(await sh(`ssh -i ${keyFile} ${sshOpts} -o BatchMode=yes -p ${inst.sshPort} root@127.0.0.1 true; echo $?`), "0");
    await assert.rejects(d.client.passwordData(inst.id), /no generated password/);
  });

  it("never writes a plaintext password to the data dir, the logs or the API output", async () => {
    assert.equal(plaintexts.length, 2);
    const api = JSON.stringify([await d.client.listInstances(), await d.client.listImages(), await d.client.listSnapshots()]);
    for (const p of plaintexts) {
      assert.equal(await sh(`grep -r -a -l -F -e '${p}' ${dir} ${logFile} || true`), "", `plaintext found on disk`);
      assert.ok(!api.includes(p), "plaintext in the API output");
    }
    // The guest confirmed, so the config drives no longer carry even the hash.
    assert.equal(await sh(`grep -a -l admin-password-hash ${dir}/instances/*/cidata.iso || true`), "");
  });

  it("captures a specialized image with a clean stop and restart; one copy keeps the identity, a second needs the override", async () => {
    const before = await identity(source.id);
    const { next: mark } = await d.client.events({ resourceId: source.id });
    const { image } = await capture(["--instance", source.id, "--name", "backup-1"]);
    assert.equal(image.state, "available", image.stateReason ?? "");
    assert.equal(image.osState, "specialized");
    assert.equal(image.consistency, "clean");
    const [back] = await d.client.waitInstances([source.id], "ready", { timeoutMs: 300_000 });
    assert.ok(back?.ready, "the source was started again");
    // As EC2 reboots for CreateImage: never stopping (the instance-running waiter fails at once on it), and running again.
    const { events } = await d.client.events({ resourceId: source.id, after: mark });
    assert.ok(!events.some((e) => e.toState === "stopping"), "the source never showed stopping");
    const restart = `Restarting for CreateImage of ${image.id}`;
    assert.deepEqual(events.map((e) => [e.fromState, e.toState, e.reason]), [
      ["running", "rebooting", restart],
      ["rebooting", "stopped", restart],
      ["stopped", "pending", restart],
      ["pending", "running", null],
    ]);
    assert.equal(back.state, "running");
    const [copy] = await run({ imageId: image.id, count: 1, keyName: "K" });
    assert.ok(copy);
    assert.equal(copy.adminPasswordMode, "keep");
    const ident = await identity(copy.id);
    assert.equal(ident.split(" ")[0], before.split(" ")[0], "hostname kept");
    assert.equal(ident.split(" ")[1], before.split(" ")[1], "machine-id kept");
    assert.equal(ident.split(" ")[2], before.split(" ")[2], "host key kept");
    const refused = await d.cli(["instance", "run", "--image", image.id, "--key", "K"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /DUPLICATE_IDENTITY: .*share one identity/);
    const two = await d.cli(["--output", "json", "instance", "run", "--image", image.id, "--count", "2", "--allow-duplicate-identity"]);
    assert.equal(two.code, 0, two.stderr);
    for (const i of JSON.parse(two.stdout) as Instance[]) await d.client.instanceAction(i.id, "terminate");
    await d.client.instanceAction(copy.id, "terminate");
  });

  it("fails a generalized capture that would keep a private key: a failed image with the reason, no snapshots left, the instance untouched", async () => {
    await ssh(source.id, "mkdir -p /root/.ssh && dropbearkey -t ed25519 -f /root/.ssh/id_ed25519 >/dev/null && sync");
    const snapshotsBefore = (await d.client.listSnapshots()).map((s) => s.id).sort();
    const { image, waited } = await capture(["--instance", source.id, "--name", "leaky", "--generalize", "--no-reboot"]);
    assert.notEqual(waited.code, 0);
    assert.equal(image.state, "failed");
    assert.match(image.stateReason ?? "", /still holds: private key \/root\/\.ssh\/id_ed25519/);
    assert.deepEqual((await d.client.listSnapshots()).map((s) => s.id).sort(), snapshotsBefore);
    assert.equal((await d.client.getInstance(source.id)).state, "running");
    assert.equal(await ssh(source.id, "ls /root/.ssh/id_ed25519"), "/root/.ssh/id_ed25519");
    const launch = await d.cli(["instance", "run", "--image", image.id]);
    assert.match(launch.stderr, /IMAGE_NOT_AVAILABLE: Cannot launch image .*: it is failed/);
    await ssh(source.id, "rm -f /root/.ssh/id_ed25519");
  });

  it("refuses to launch a pending image, with a clear reason", async () => {
    const r = await d.client.createImage({ instanceId: source.id, name: "pending-one", noReboot: true });
    await assert.rejects(d.client.runInstances({ imageId: r.image.id, count: 1 }), /IMAGE_NOT_AVAILABLE|still pending/);
    await d.client.waitOperation(r.operation.id);
  });

  it("marks an instance generalized in the guest's way: it cannot start, and its image is generalized", async () => {
    const victim = launched.find((id) => id !== source.id) ?? "";
    await d.client.instanceAction(victim, "stop");
    await d.client.waitInstances([victim], "stopped", { timeoutMs: 120_000 });
    const data = await d.client.createVolume({ sizeGiB: 1 });
    await d.client.attachVolume(data.id, victim);
    assert.equal((await d.cli(["instance", "generalize", victim])).code, 0);
    const start = await d.cli(["instance", "start", victim]);
    assert.notEqual(start.code, 0);
    assert.match(start.stderr, /INVALID_INSTANCE_STATE: Cannot start instance .*: it is generalized; a generalized instance cannot be started again/);
    const both = await capture(["--instance", victim, "--name", "with-data", "--snapshot-tag", "team=storage"]);
    assert.deepEqual(both.image.blockDeviceMappings.map((m) => m.deviceName), ["/dev/vda", "/dev/vdb"]);
    for (const m of both.image.blockDeviceMappings) assert.deepEqual((await d.client.getSnapshot(m.snapshotId)).tags, { team: "storage" });
    await d.client.deregisterImage(both.image.id, true);
    const { image } = await capture(["--instance", victim, "--name", "from-generalized", "--exclude-volume", data.id]);
    assert.equal(image.state, "available");
    assert.equal(image.osState, "generalized");
    assert.equal(image.blockDeviceMappings.length, 1, "the excluded data volume is not in the image");
    const bad = await d.cli(["image", "create", "--instance", victim, "--name", "x", "--exclude-volume", "vol-00000000000000000"]);
    assert.match(bad.stderr, /VOLUME_NOT_ATTACHED/);
  });

  it("deregisters with and without --delete-snapshots, keeping a snapshot another image shares", async () => {
    const golden = (await d.client.listImages({ name: "golden-1" }))[0] as Image;
    const snap = golden.blockDeviceMappings[0]?.snapshotId ?? "";
    const twin = await d.client.registerImage({ name: "golden-twin", snapshotId: snap, osType: "linux", osState: "generalized" });
    const r1 = JSON.parse((await d.cli(["--output", "json", "image", "deregister", golden.id, "--delete-snapshots"])).stdout) as {
      deletedSnapshots: string[];
      keptSnapshots: { id: string; reason: string }[];
    };
    assert.deepEqual(r1.deletedSnapshots, []);
    assert.equal(r1.keptSnapshots[0]?.id, snap);
    assert.match(r1.keptSnapshots[0]?.reason ?? "", new RegExp(`image ${twin.id} uses it`));
    assert.equal((await d.client.getSnapshot(snap)).state, "completed");
    const deregistered = await d.client.listImages({ state: "deregistered" });
    assert.ok(deregistered.some((i) => i.id === golden.id));
    assert.ok(deregistered.every((i) => i.state === "deregistered"));
    assert.ok(!(await d.client.listImages()).some((i) => i.id === golden.id), "hidden from the default listing");
    const launch = await d.cli(["instance", "run", "--image", golden.id]);
    assert.match(launch.stderr, /IMAGE_NOT_AVAILABLE: .* it is deregistered/);
    // Without --delete-snapshots the snapshot stays; with it (and nothing else using it) it goes.
    const plain = JSON.parse((await d.cli(["--output", "json", "image", "deregister", twin.id])).stdout) as { deletedSnapshots: string[] };
    assert.deepEqual(plain.deletedSnapshots, []);
    assert.equal((await d.client.getSnapshot(snap)).state, "completed");
    const spare = (await d.client.listImages({ name: "from-generalized" }))[0] as Image;
    const spareSnap = spare.blockDeviceMappings[0]?.snapshotId ?? "";
    const r2 = JSON.parse((await d.cli(["--output", "json", "image", "deregister", spare.id, "--delete-snapshots"])).stdout) as { deletedSnapshots: string[] };
    assert.deepEqual(r2.deletedSnapshots, [spareSnap]);
    await assert.rejects(d.client.getSnapshot(spareSnap), /does not exist/);
  });
});

describe("host capacity, stop and deallocate", { timeout: 900_000 }, () => {
  let t: TestDaemon;
  let image: string;

  before(async () => {
    // Room for exactly two is.nano instances (1 vCPU, 256 MiB each).
    t = await startTestDaemon(undefined, { capacity: { vcpus: 2, memoryMiB: 600 } });
    const imported = await t.client.importImage(await tinyGuest(), { name: "tiny", osType: "linux" });
    await t.client.waitOperation(imported.operation.id);
    image = imported.image.id;
  });
  after(async () => {
    for (const i of await t.client.listInstances()) for (const pid of await qemuPids(i.id)) process.kill(Number(pid), "SIGKILL");
    await t?.close();
    if (t) await removeDir(t.dataDir);
  });

  it("refuses a launch past capacity, counts stopped instances, and frees room on deallocate", async () => {
    const two = await t.client.runInstances({ imageId: image, count: 2, adminPassword: { mode: "none" } });
    const ids = two.map((i) => i.id);
    const full = await t.cli(["instance", "run", "--image", image, "--admin-password", "none"]);
    assert.match(full.stderr, /INSUFFICIENT_CAPACITY: Not enough host capacity for 1 vCPUs and 256 MiB: 2\/2 vCPUs/);
    await t.client.waitInstances(ids, "ready", { timeoutMs: 300_000 });
    const first = ids[0] ?? "";
    await t.client.instanceAction(first, "stop");
    await t.client.waitInstances([first], "stopped", { timeoutMs: 120_000 });
    await assert.rejects(t.client.runInstances({ imageId: image, count: 1, adminPassword: { mode: "none" } }), /stopped instances keep their reservation/);
    assert.equal((await t.client.instanceAction(first, "deallocate")).state, "deallocated");
    const [third] = await t.client.runInstances({ imageId: image, count: 1, adminPassword: { mode: "none" } });
    assert.ok(third);
    // Now the deallocated one cannot start again until room is made.
    await assert.rejects(t.client.instanceAction(first, "start"), /INSUFFICIENT_CAPACITY|Not enough host capacity/);
    await t.client.instanceAction(third.id, "terminate");
    await t.client.waitInstances([third.id], "terminated", { timeoutMs: 120_000 });
    assert.equal((await t.client.instanceAction(first, "start")).state, "pending");
    await t.client.waitInstances([first], "ready", { timeoutMs: 300_000 });
  });
});

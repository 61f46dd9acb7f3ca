import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Client, Instance } from "../src/client/client.ts";
import { debianGuest, qemuPids, removeDir, sh, spawnDaemon, waitFor } from "./helpers.ts";

type Daemon = Awaited<ReturnType<typeof spawnDaemon>>;
const sshOpts = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=20";
/** The real guest is slow under TCG, and slower with company: generous limits, never asserted as timings. */
const bootLimitMs = 1_200_000;

interface Identity {
  hostname: string;
  machineId: string;
  hostKey: string;
  mac: string;
  smbiosUuid: string;
  cloudInstanceId: string;
}

describe("a real Debian 12 cloud image with unmodified cloud-init", { timeout: 3_600_000 }, () => {
  let d: Daemon;
  let dir: string;
  let work: string;
  let keyFile: string;
  let imageId: string;
  let source: Instance;
  const launched: string[] = [];
  const bootSeconds: Record<string, number> = {};

  const ssh = async (inst: Instance, cmd: string) => {
    const r = await d.cli(["instance", "ssh", inst.id, "--key", keyFile, "--", cmd]);
    assert.equal(r.code, 0, `ssh ${inst.id} ${cmd}: ${r.stderr}`);
    return r.stdout.trim();
  };
  /** SSH as soon as sshd answers: a guest whose agent made it ready may still be starting sshd. */
  const sshWhenUp = (inst: Instance, cmd: string) =>
    waitFor(`SSH to ${inst.id}`, async () => {
      const r = await d.cli(["instance", "ssh", inst.id, "--key", keyFile, "--", cmd]);
      return r.code === 0 ? r.stdout.trim() : undefined;
    }, 300_000);
  const identity = async (inst: Instance): Promise<Identity> => {
    const out = await sshWhenUp(
      inst,
      'echo "$(hostname)|$(cat /etc/machine-id)|$(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2)|$(cat /sys/class/net/eth0/address)|$(sudo cat /sys/class/dmi/id/product_uuid)|$(sudo cat /var/lib/cloud/data/instance-id)"',
    );
    const [hostname = "", machineId = "", hostKey = "", mac = "", smbiosUuid = "", cloudInstanceId = ""] = out.split("|");
    return { hostname, machineId, hostKey, mac, smbiosUuid: smbiosUuid.toLowerCase(), cloudInstanceId };
  };
  const launch = async (client: Client, req: Parameters<Client["runInstances"]>[0]) => {
    const started = Date.now();
    const instances = await client.runInstances(req);
    launched.push(...instances.map((i) => i.id));
    const ready = await client.waitInstances(instances.map((i) => i.id), "ready", { timeoutMs: bootLimitMs });
    for (const i of ready) bootSeconds[i.id] = Math.round((Date.now() - started) / 1000);
    return ready;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "imagesmith-real-"));
    work = await mkdtemp(join(tmpdir(), "imagesmith-real-work-"));
    d = await spawnDaemon(dir, { logFile: join(work, "daemon.log"), extraArgs: ["--host-vcpus", "8"] });
    keyFile = join(work, "K.pem");
    assert.equal((await d.cli(["keypair", "create", "--name", "K", "--out", keyFile])).code, 0);
    const imported = await d.client.importImage(await debianGuest(), { name: "debian-12", osType: "linux", defaultUser: "debian" });
    assert.equal((await d.client.waitOperation(imported.operation.id)).state, "succeeded");
    imageId = imported.image.id;
  });

  after(async () => {
    for (const id of launched) for (const pid of await qemuPids(id)) process.kill(Number(pid), "SIGKILL");
    await d.kill("SIGTERM");
    process.stdout.write(`# real guest: launch to ready, seconds: ${JSON.stringify(bootSeconds)}\n`);
    await removeDir(dir);
    await removeDir(work);
  });

  it("launches with a key pair, user-data and a random password; cloud-init reports ready; SSH and the password work", async () => {
    const userData = join(work, "user-data.yaml");
    await writeFile(userData, "#cloud-config\nwrite_files:\n  - path: /etc/from-user-data\n    content: written by cloud-init from user-data\n");
    const r = await d.cli(["--output", "json", "instance", "run", "--image", imageId, "--key", "K", "--type", "is.medium", "--user-data", userData, "--admin-password", "random"]);
    assert.equal(r.code, 0, r.stderr);
    const [pending] = JSON.parse(r.stdout) as Instance[];
    assert.ok(pending);
    launched.push(pending.id);
    const started = Date.now();
    const waited = await d.cli(["--output", "json", "instance", "wait", "ready", pending.id, "--timeout", String(bootLimitMs / 1000)]);
    assert.equal(waited.code, 0, waited.stderr);
    bootSeconds[pending.id] = Math.round((Date.now() - started) / 1000);
    source = await d.client.getInstance(pending.id);
    assert.equal(source.state, "running");
    assert.equal(source.statusCheck, "ok");
    assert.ok(source.passwordSetAt, "cloud-init's phone-home confirmed the password");
    assert.match(await d.client.consoleOutput(source.id), /Cloud-init v\. 22\.4[.\d]* finished/);
    assert.equal(await ssh(source, "cat /etc/from-user-data"), "written by cloud-init from user-data");
    assert.equal(await ssh(source, "whoami"), "debian");
    const pw = await d.cli(["instance", "get-password", source.id, "--key", keyFile]);
    assert.equal(pw.code, 0, pw.stderr);
    const password = pw.stdout.trim();
    assert.equal(password.length, 24);
    const port = source.sshPort ?? 0;
    const login = await sh(`sshpass -p '${password}' ssh ${sshOpts} -o PubkeyAuthentication=no -p ${port} debian@127.0.0.1 'echo password-ok'`);
    assert.equal(login, "password-ok");
    await assert.rejects(sh(`sshpass -p 'wrong-password' ssh ${sshOpts} -o PubkeyAuthentication=no -p ${port} debian@127.0.0.1 true`));
    // After the guest confirmed it, the drive no longer holds even the hash.
    const iso = await readFile(join(dir, "instances", source.id, "cidata.iso"));
    assert.ok(!iso.includes("$6$"), "the password hash is gone from the config drive");
  });

  let generalizedImage: string;
  it("captures a generalized image with --no-reboot while the source keeps running", async () => {
    await ssh(source, "echo kept > /home/debian/kept-file; echo secret-history >> ~/.bash_history; sync");
    const r = await d.cli(["--output", "json", "image", "create", "--instance", source.id, "--name", "debian-golden", "--generalize", "--no-reboot"]);
    assert.equal(r.code, 0, r.stderr);
    const pending = JSON.parse(r.stdout) as { id: string };
    const w = await d.cli(["image", "wait", "available", pending.id, "--timeout", "1800"]);
    assert.equal(w.code, 0, `${w.stderr}\n${(await d.client.getImage(pending.id)).stateReason ?? ""}`);
    const image = await d.client.getImage(pending.id);
    assert.equal(image.osState, "generalized");
    assert.notEqual(image.consistency, "clean", "read from the running instance");
    assert.equal((await d.client.getInstance(source.id)).state, "running");
    assert.equal(await ssh(source, "cat /home/debian/kept-file"), "kept", "the source is untouched and answers");
    generalizedImage = image.id;
  });

  it("launches 2 from it: cloud-init runs again, each with its own hostname, machine-id, host keys, MAC and SMBIOS UUID", async () => {
    const copies = await launch(d.client, { imageId: generalizedImage, count: 2, keyName: "K", instanceType: "is.medium" });
    const ids = [await identity(source), ...(await Promise.all(copies.map(identity)))];
    for (const key of ["hostname", "machineId", "hostKey", "mac", "smbiosUuid", "cloudInstanceId"] as const) {
      assert.equal(new Set(ids.map((i) => i[key])).size, 3, `${key} differs: ${ids.map((i) => i[key]).join(", ")}`);
      for (const i of ids) assert.ok(i[key], `${key} is set`);
    }
    for (const [n, copy] of copies.entries()) {
      assert.equal(ids[n + 1]?.cloudInstanceId, copy.id, "cloud-init saw a new instance");
      assert.equal(ids[n + 1]?.hostname, copy.hostname);
      assert.equal(ids[n + 1]?.mac, copy.macAddress);
      assert.equal(await ssh(copy, "cat /home/debian/kept-file"), "kept", "the data came along");
      assert.equal(await ssh(copy, "cat ~/.bash_history 2>/dev/null | wc -l"), "0", "no shell history came along");
    }
    for (const c of copies) await d.client.instanceAction(c.id, "terminate");
    await d.client.waitInstances(copies.map((c) => c.id), "terminated", { timeoutMs: 300_000 });
  });

  it("captures a specialized image whose copy keeps the identity", async () => {
    const before = await identity(source);
    const created = await d.client.createImage({ instanceId: source.id, name: "debian-backup", noReboot: true });
    assert.equal((await d.client.waitOperation(created.operation.id)).state, "succeeded");
    assert.equal((await d.client.getImage(created.image.id)).osState, "specialized");
    const [copy] = await launch(d.client, { imageId: created.image.id, count: 1, keyName: "K", instanceType: "is.medium", allowDuplicateIdentity: true });
    assert.ok(copy);
    const kept = await identity(copy);
    assert.deepEqual(
      { hostname: kept.hostname, machineId: kept.machineId, hostKey: kept.hostKey, cloudInstanceId: kept.cloudInstanceId },
      { hostname: before.hostname, machineId: before.machineId, hostKey: before.hostKey, cloudInstanceId: before.cloudInstanceId },
    );
    assert.equal(await ssh(copy, "cat /etc/from-user-data"), "written by cloud-init from user-data");
  });
});

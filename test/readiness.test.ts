import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ApiError } from "../src/client/client.ts";
import { qemuPids, removeDir, startTestDaemon, waitFor, type TestDaemon } from "./helpers.ts";

/**
 * A disk that boots and does nothing: an MBR whose code halts (cli; hlt) and
 * a blank rest. No agent, no cloud-init, no console line: the guest the boot
 * timeout is for.
 */
async function silentDisk(dir: string): Promise<string> {
  const disk = Buffer.alloc(1024 * 1024);
  disk[0] = 0xfa; // cli
  disk[1] = 0xf4; // hlt
  disk[2] = 0xeb; // jmp $-2 … back to hlt
  disk[3] = 0xfd;
  disk[510] = 0x55;
  disk[511] = 0xaa;
  const file = join(dir, "silent.raw");
  await writeFile(file, disk);
  return file;
}

describe("readiness of a guest that says nothing", { timeout: 600_000 }, () => {
  let t: TestDaemon;
  let work: string;
  let id: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "imagesmith-readiness-"));
    t = await startTestDaemon(undefined, { bootTimeoutMs: 20_000 });
    await t.client.createKeyPair("K");
    const imported = await t.client.importImage(await silentDisk(work), { name: "silent", osType: "linux" });
    assert.equal((await t.client.waitOperation(imported.operation.id)).state, "succeeded");
    const [inst] = await t.client.runInstances({ imageId: imported.image.id, count: 1, keyName: "K", adminPassword: { mode: "random" } });
    assert.ok(inst);
    id = inst.id;
  });

  after(async () => {
    for (const pid of await qemuPids(id)) process.kill(Number(pid), "SIGKILL");
    await t.close();
    await removeDir(t.dataDir);
    await removeDir(work);
  });

  it("is running as soon as its VM runs, with the status check initializing", async () => {
    const [inst] = await t.client.waitInstances([id], "running", { timeoutMs: 120_000 });
    assert.equal(inst?.statusCheck === "initializing" || inst?.statusCheck === "impaired", true);
    assert.equal(inst?.sshPort, null, "no SSH forward before the guest is ready");
  });

  it("becomes impaired with a reason at the boot timeout, never stuck pending", async () => {
    const inst = await waitFor("the status check to end", async () => {
      const i = await t.client.getInstance(id);
      return i.statusCheck === "initializing" ? undefined : i;
    }, 120_000);
    assert.equal(inst.state, "running");
    assert.equal(inst.statusCheck, "impaired");
    assert.match(inst.statusReason ?? "", /did not report ready within 20 s/);
    assert.equal(inst.sshPort, null);
    await assert.rejects(t.client.waitInstances([id], "ready", { timeoutMs: 10_000 }), /impaired: The guest did not report ready/);
  });

  it("never hands out a password the guest did not confirm", async () => {
    await assert.rejects(t.client.passwordData(id), (e: ApiError) => e.status === 409 && e.code === "PASSWORD_NOT_AVAILABLE");
    const r = await t.cli(["instance", "get-password", id, "--key", "/dev/null"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not available: the guest has not confirmed/);
  });
});

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { Vm } from "../core/ports.ts";
import type { VmRuntime } from "../core/types.ts";
import { offlineServices, records } from "../../test/offline-services.ts";

const id = "i-0000000000000000a";
const runtime: VmRuntime = { pid: 4242, qmpSocket: "/nonexistent/qmp.sock", sshPort: 0, consoleOffset: 0 };

/** A VM that shuts down when asked, and whose end the daemon sees. */
function fakeVm(): Vm & { shutdowns: number } {
  let end = () => undefined as void;
  const exited = new Promise<void>((resolve) => (end = resolve));
  return {
    runtime,
    exited,
    shutdowns: 0,
    async shutdown() {
      this.shutdowns++;
      end();
      await exited;
    },
    reset: async () => undefined,
    pause: async () => undefined,
    resume: async () => undefined,
    freezeFilesystems: async () => undefined,
    kill: async () => end(),
    undoInterruptedFreeze: async () => [],
    agentAnswers: async () => false,
    openSsh: async () => 0,
    release: () => undefined,
  };
}

describe("Instances", () => {
  let t: Awaited<ReturnType<typeof offlineServices>>;
  afterEach(() => t.close());

  const transitions = () => t.catalog.events({ afterSeq: 0, resourceId: id, limit: 100 }).map((e) => [e.fromState, e.toState, e.reason]);

  it("powers an instance off for a capture through rebooting, never stopping, keeping the reason on the way", async () => {
    const vm = fakeVm();
    t = await offlineServices({ reattach: async () => vm });
    t.catalog.volumes.insert(records.volume("vol-00000000000000000", { kind: "boot", instanceId: null }));
    t.catalog.instances.insert(records.instance(id, { state: "running", statusCheck: "ok", runtime }));
    await t.services.instances.recover(); // finds the VM and supervises it
    const reason = "Restarting for CreateImage of ami-0000000000000000b";
    const off = await t.services.instances.powerOffForCapture(id, reason);
    assert.deepEqual([off.state, off.stateReason, off.runtime], ["stopped", reason, null]);
    assert.equal(vm.shutdowns, 1, "a clean shutdown, asked once");
    assert.deepEqual(transitions(), [
      [null, "running", null],
      ["running", "rebooting", reason],
      ["rebooting", "stopped", reason],
    ]);
  });

  it("powers an instance off for a capture at once when it has no VM", async () => {
    t = await offlineServices();
    t.catalog.instances.insert(records.instance(id, { state: "running" }));
    const off = await t.services.instances.powerOffForCapture(id, "why");
    assert.deepEqual([off.state, off.stateReason], ["stopped", "why"]);
    assert.ok(!transitions().some(([, to]) => to === "stopping"));
  });

  it("recovers an instance left rebooting by a capture, with no VM, as stopped with a reason", async () => {
    t = await offlineServices({ reattach: async () => undefined });
    t.catalog.volumes.insert(records.volume("vol-00000000000000000", { kind: "boot" }));
    t.catalog.instances.insert(records.instance(id, { state: "rebooting", stateReason: "Restarting for CreateImage of ami-0000000000000000b", runtime }));
    await t.services.instances.recover();
    const after = t.services.instances.get(id);
    assert.deepEqual([after.state, after.runtime], ["stopped", null]);
    assert.match(after.stateReason ?? "", /The VM process ended while the daemon was down/);
  });

  it("finishes a termination that a crash interrupted after its volumes were deleted, and still starts", async () => {
    let reattached = 0;
    t = await offlineServices({ reattach: async () => void reattached++ });
    // No boot volume record: the first termination deleted it, then the daemon died.
    t.catalog.instances.insert(records.instance(id, { state: "shutting-down", stateReason: "User initiated termination", runtime }));
    await t.services.instances.recover();
    const after = t.services.instances.get(id);
    assert.deepEqual([after.state, after.stateReason, after.runtime], ["terminated", "User initiated termination", null]);
    assert.equal(reattached, 0, "no VM is looked for: it was killed before its volumes went");
  });

  it("logs an instance it cannot recover and recovers the others", async () => {
    t = await offlineServices({ reattach: async () => undefined });
    const broken = "i-0000000000000000b";
    t.catalog.instances.insert(records.instance(broken, { state: "running", runtime, bootVolumeId: "vol-0000000000000000f" as never }));
    t.catalog.volumes.insert(records.volume("vol-00000000000000000", { kind: "boot" }));
    t.catalog.instances.insert(records.instance(id, { state: "running", runtime }));
    await t.services.instances.recover();
    assert.equal(t.services.instances.get(id).state, "stopped", "the recoverable one is recovered");
    assert.equal(t.services.instances.get(broken).state, "running", "the broken one is left as it was, and logged");
  });

  it("stops waiting at once for an instance that is terminated", async () => {
    t = await offlineServices();
    t.catalog.instances.insert(records.instance(id, { state: "terminated" }));
    await assert.rejects(t.services.instances.waitFor(id, "stopped", 60_000), { code: "INVALID_INSTANCE_STATE", message: /will not become stopped: it is terminated/ });
    assert.equal((await t.services.instances.waitFor(id, "terminated", 1000)).state, "terminated");
  });
});

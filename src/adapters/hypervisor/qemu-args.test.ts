import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { VmSpec } from "../../core/ports.ts";
import { qemuArgs } from "./qemu-args.ts";

const spec: VmSpec = {
  instanceId: "i-0123456789abcdef0",
  vcpus: 2,
  memoryMiB: 512,
  bootDisk: "/d/vol.qcow2",
  dataDisks: ["/d/data.qcow2"],
  configDrive: "/d/cidata.iso",
  macAddress: "52:54:00:aa:bb:cc",
  smbiosUuid: "0e7a6c1e-9a39-4c55-8d0f-6a3c4b6a9b11",
  consoleLog: "/d/console.log",
  runDir: "/d",
  guestSocket: "/d/guest.sock",
  network: "default",
};
const paths = { qmpSocket: "/d/qmp.sock", qgaSocket: "/d/qga.sock", pidFile: "/d/qemu.pid" };
const after = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

describe("qemuArgs()", () => {
  it("uses -cpu host under KVM and an emulated CPU under TCG", () => {
    assert.deepEqual(after(qemuArgs(spec, "kvm", paths), "-cpu"), ["host"]);
    assert.deepEqual(after(qemuArgs(spec, "tcg", paths), "-accel"), ["tcg"]);
  });

  it("gives the instance's vCPUs, memory, SMBIOS UUID and MAC", () => {
    const args = qemuArgs(spec, "tcg", paths);
    assert.deepEqual(after(args, "-smp"), ["2"]);
    assert.deepEqual(after(args, "-m"), ["512"]);
    assert.deepEqual(after(args, "-uuid"), [spec.smbiosUuid]);
    assert.ok(after(args, "-device").some((d) => d.includes(`mac=${spec.macAddress}`)));
  });

  it("attaches data disks after the boot disk, as virtio", () => {
    const drives = after(qemuArgs(spec, "tcg", paths), "-drive");
    assert.ok(drives[0]?.startsWith("file=/d/vol.qcow2"));
    assert.ok(drives[1]?.startsWith("file=/d/data.qcow2,if=none,id=data0"));
  });

  it("appends the console to a file and puts QMP on a unix socket", () => {
    const args = qemuArgs(spec, "tcg", paths);
    assert.ok(after(args, "-chardev").some((d) => d.includes("path=/d/console.log,append=on")));
    assert.deepEqual(after(args, "-qmp"), ["unix:/d/qmp.sock,server=on,wait=off"]);
  });

  it("offers the guest agent a virtio-serial port on a unix socket", () => {
    const args = qemuArgs(spec, "tcg", paths);
    assert.ok(after(args, "-chardev").includes("socket,id=qga0,path=/d/qga.sock,server=on,wait=off"));
    assert.ok(after(args, "-device").includes("virtserialport,chardev=qga0,name=org.qemu.guest_agent.0"));
  });

  it("forwards the guest endpoint's address to the instance's own socket, and nothing else", () => {
    assert.deepEqual(after(qemuArgs(spec, "tcg", paths), "-netdev"), ["user,id=net0,guestfwd=tcp:10.0.2.100:80-cmd:socat STDIO UNIX-CONNECT:/d/guest.sock"]);
    assert.throws(() => qemuArgs({ ...spec, guestSocket: "/d/a,b.sock" }, "tcg", paths));
  });

  it("gives a Windows guest the link-local network, with 169.254.169.254:80 forwarded to its own socket", () => {
    const args = qemuArgs({ ...spec, network: "link-local-metadata" }, "tcg", paths);
    assert.deepEqual(after(args, "-netdev"), ["user,id=net0,net=169.254.169.0/24,guestfwd=tcp:169.254.169.254:80-cmd:socat STDIO UNIX-CONNECT:/d/guest.sock"]);
    assert.throws(() => qemuArgs({ ...spec, network: "link-local-metadata", guestSocket: "/d/a b.sock" }, "tcg", paths));
  });

  it("attaches the config drive read-only as a CD-ROM, and none when there is none", () => {
    assert.ok(after(qemuArgs(spec, "tcg", paths), "-drive").some((d) => d.includes("media=cdrom,readonly=on")));
    assert.ok(!qemuArgs({ ...spec, configDrive: null }, "tcg", paths).join(" ").includes("cdrom"));
  });
});

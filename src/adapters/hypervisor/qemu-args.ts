import { guestEndpoint, metadataEndpoint } from "../../core/guest-contract.ts";
import type { VmSpec } from "../../core/ports.ts";

export type Accelerator = "kvm" | "tcg";

export interface QemuPaths {
  qmpSocket: string;
  qgaSocket: string;
  pidFile: string;
}

/**
 * QEMU user networking, with the guest endpoint's address forwarded to this
 * instance's own unix socket: QEMU spawns socat for each guest connection.
 * The path is the daemon's own (no commas, which -netdev would split on).
 * A Windows guest looks for its metadata at 169.254.169.254, which QEMU
 * forwards only from inside its network: that guest's network is
 * 169.254.169.0/24 (QEMU refuses the guestfwd on the default 10.0.2.0/24).
 */
function userNetwork(spec: VmSpec): string {
  if (/[,\s'"]/.test(spec.guestSocket)) throw new Error("the guest socket path must not hold commas, spaces or quotes");
  const socat = `cmd:socat STDIO UNIX-CONNECT:${spec.guestSocket}`;
  if (spec.network === "link-local-metadata") {
    return `user,id=net0,net=${metadataEndpoint.net},guestfwd=tcp:${metadataEndpoint.host}:${metadataEndpoint.port}-${socat}`;
  }
  return `user,id=net0,guestfwd=tcp:${guestEndpoint.host}:${guestEndpoint.port}-${socat}`;
}

/** The qemu-system-x86_64 command line for one instance. */
export function qemuArgs(spec: VmSpec, accel: Accelerator, paths: QemuPaths): string[] {
  const args = [
    "-name", `${spec.instanceId},process=imagesmith-${spec.instanceId}`,
    "-machine", "pc",
    "-accel", accel,
    "-cpu", accel === "kvm" ? "host" : "max",
    "-smp", String(spec.vcpus),
    "-m", String(spec.memoryMiB),
    "-uuid", spec.smbiosUuid,
    "-nodefaults", "-no-user-config", "-display", "none",
    "-chardev", `file,id=console,path=${spec.consoleLog},append=on`,
    "-serial", "chardev:console",
    "-qmp", `unix:${paths.qmpSocket},server=on,wait=off`,
    "-drive", `file=${spec.bootDisk},if=none,id=boot,format=qcow2,discard=unmap`,
    "-device", "virtio-blk-pci,drive=boot,bootindex=0",
    "-netdev", userNetwork(spec),
    "-device", `virtio-net-pci,netdev=net0,mac=${spec.macAddress},romfile=`,
    // The guest agent's channel: answered only by guests that run qemu-ga.
    "-device", "virtio-serial-pci",
    "-chardev", `socket,id=qga0,path=${paths.qgaSocket},server=on,wait=off`,
    "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
    "-daemonize", "-pidfile", paths.pidFile,
  ];
  spec.dataDisks.forEach((disk, i) => {
    args.push("-drive", `file=${disk},if=none,id=data${i},format=qcow2,discard=unmap`, "-device", `virtio-blk-pci,drive=data${i}`);
  });
  if (spec.configDrive) {
    args.push(
      "-drive", `file=${spec.configDrive},if=none,id=cidata,media=cdrom,readonly=on,format=raw`,
      "-device", "ide-cd,drive=cidata,bus=ide.1",
    );
  }
  return args;
}

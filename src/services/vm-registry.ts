import type { Vm } from "../core/ports.ts";
import type { Snapshot } from "../core/types.ts";

/** The VMs this daemon supervises, by instance id. */
export class VmRegistry {
  private readonly vms = new Map<string, Vm>();

  get(id: string): Vm | undefined {
    return this.vms.get(id);
  }

  set(id: string, vm: Vm): void {
    this.vms.set(id, vm);
  }

  delete(id: string): void {
    this.vms.delete(id);
  }

  /** Forgets every VM and returns them. */
  takeAll(): Vm[] {
    const all = [...this.vms.values()];
    this.vms.clear();
    return all;
  }

  /**
   * Runs a disk read of an instance's volumes so that what is read is
   * consistent: with its filesystems frozen by the guest agent when one
   * answers (fs-frozen), and in any case with the VM paused, as QEMU drains and
   * flushes its disks on stop (crash-consistent at least). Without a VM the
   * disks are not in use and the read is clean.
   */
  async freeze<T>(instanceId: string | null, read: () => Promise<T>): Promise<{ value: T; consistency: Snapshot["consistency"] }> {
    const vm = instanceId ? this.vms.get(instanceId) : undefined;
    if (!vm) return { value: await read(), consistency: "clean" };
    const thaw = await vm.freezeFilesystems();
    try {
      await vm.pause();
      try {
        return { value: await read(), consistency: thaw ? "fs-frozen" : "crash-consistent" };
      } finally {
        await vm.resume();
      }
    } finally {
      await thaw?.();
    }
  }
}

import type { Volume } from "./types.ts";

/**
 * The order an instance's disks are given to its VM, and so their names in the
 * guest: the boot volume first (the image's root device), then the data volumes
 * by creation, as /dev/vdb, /dev/vdc, … One rule for the VM, captures and the APIs.
 */
export function diskOrder<V extends Pick<Volume, "id" | "kind" | "createdAt">>(volumes: V[]): V[] {
  return [...volumes].sort((a, b) => (a.kind === b.kind ? a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id) : a.kind === "boot" ? -1 : 1));
}

/** Each volume's device name, by diskOrder. */
export function deviceNames(rootDeviceName: string, volumes: Pick<Volume, "id" | "kind" | "createdAt">[]): Map<string, string> {
  const names = new Map<string, string>();
  let data = 0;
  for (const v of diskOrder(volumes)) names.set(v.id, v.kind === "boot" ? rootDeviceName : `/dev/vd${String.fromCharCode(98 + data++)}`);
  return names;
}

/** /dev/sdb, /dev/xvdb and /dev/vdb name one disk, as EC2 clients write them. */
export const sameDevice = (a: string, b: string) => a.replace(/^\/dev\/(sd|xvd|vd)/, "") === b.replace(/^\/dev\/(sd|xvd|vd)/, "");

import { conflict } from "../core/errors.ts";
import type { InstanceState } from "../core/instance-state.ts";
import type { ConfigDriveContent } from "../core/ports.ts";
import type { Image, Instance } from "../core/types.ts";

/** States in which an instance holds its vCPUs and memory on the host (a stopped one still does). */
const reservingStates: readonly InstanceState[] = ["pending", "running", "rebooting", "stopping", "stopped", "shutting-down"];

/** Refuses what would take the reserved vCPUs or memory past the host's capacity. */
export function checkCapacity(instances: Instance[], capacity: { vcpus: number; memoryMiB: number }, vcpus: number, memoryMiB: number): void {
  const held = instances.filter((i) => reservingStates.includes(i.state));
  const usedCpu = held.reduce((n, i) => n + i.vcpus, 0);
  const usedMem = held.reduce((n, i) => n + i.memoryMiB, 0);
  if (usedCpu + vcpus > capacity.vcpus || usedMem + memoryMiB > capacity.memoryMiB) {
    throw conflict(
      "INSUFFICIENT_CAPACITY",
      `Not enough host capacity for ${vcpus} vCPUs and ${memoryMiB} MiB: ${usedCpu}/${capacity.vcpus} vCPUs and ${usedMem}/${capacity.memoryMiB} MiB are reserved; stopped instances keep their reservation until deallocated or terminated`,
    );
  }
}

/**
 * A specialized image keeps hostname, machine-id, host keys and users: more
 * than one live copy shares one identity, so that needs the caller's say-so.
 */
export function checkIdentity(image: Image, count: number, liveFromImage: Instance[], allowDuplicate: boolean): void {
  if (image.osState !== "specialized" || allowDuplicate) return;
  if (count <= 1 && liveFromImage.length === 0) return;
  const others = liveFromImage.length > 0 ? `; ${liveFromImage.map((i) => i.id).join(", ")} already run from it` : "";
  throw conflict(
    "DUPLICATE_IDENTITY",
    `Cannot launch ${count} instance(s) of specialized image ${image.id}${others}: a specialized image keeps its hostname, machine-id, SSH host keys and users, so copies would share one identity on the network. Use a generalized image, or pass allowDuplicateIdentity (--allow-duplicate-identity) if you mean it`,
  );
}

/** What an instance's config drive says; a specialized image keeps the hostname it was captured with. */
export function configDriveContent(inst: Instance, image: Image, publicKey: string | null, password: ConfigDriveContent["password"]): ConfigDriveContent {
  return {
    instanceId: inst.id,
    hostname: image.osState === "generalized" ? inst.hostname : null,
    publicKeys: publicKey ? [publicKey] : [],
    userData: inst.userData,
    password,
  };
}

import { badRequest, conflict } from "../core/errors.ts";
import { metadataEndpoint, phoneHomeUrl } from "../core/guest-contract.ts";
import type { InstanceState } from "../core/instance-state.ts";
import type { ConfigDriveContent } from "../core/ports.ts";
import type { Image, Instance } from "../core/types.ts";
import { buildAnswerFile, checkAnswerFile, type AnswerFile } from "../core/unattend.ts";

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

/**
 * The seed of an instance, or null for none. A generalized image is
 * specialized afresh: the instance's own id, hostname, keys, the user's
 * user-data, and the platform's vendor-data (password hash, phone-home); a
 * Windows one gets an OpenStack config-2 drive with its answer file instead. A
 * specialized image is given nothing that re-specializes it: the instance-id
 * of the instance it was captured from, so cloud-init (or cloudbase-init) and
 * our agent see the same instance and run nothing per-instance again; with no
 * source instance, no seed at all.
 */
export function seedFor(inst: Instance, image: Image, publicKey: string | null, password: ConfigDriveContent["password"]): ConfigDriveContent | null {
  const windows = image.osType === "windows";
  const format = windows ? "config-2" : "nocloud";
  if (image.osState === "specialized") {
    if (!image.sourceInstanceId) return null;
    return { format, instanceId: image.sourceInstanceId, hostname: null, publicKeys: [], userData: inst.userData, password: null, macAddress: inst.macAddress, phoneHomeUrl: null, answerFile: null };
  }
  return {
    format,
    instanceId: inst.id,
    hostname: inst.hostname,
    publicKeys: publicKey ? [publicKey] : [],
    keyName: inst.keyName,
    userData: inst.userData,
    // Windows takes no hash: its answer file fetches the password from the instance's endpoint.
    password: windows ? null : password,
    macAddress: inst.macAddress,
    // Windows says it is up on the password channel (or the console), not by phone-home.
    phoneHomeUrl: windows ? null : phoneHomeUrl,
    answerFile: windows ? answerFileFor(inst, image) : null,
  };
}

/** What the answer file does with Administrator, by the launch's password mode (EC2Launch's modes). */
const adminByMode = { random: "fetch", specify: "fetch", keep: "keep", none: "disable" } as const;
/** libguestfs's architecture names to Windows' processorArchitecture. */
const windowsArch: Readonly<Record<string, "amd64" | "x86" | "arm64">> = { x86_64: "amd64", i386: "x86", aarch64: "arm64" };

/** The validated answer file of one launch of a generalized Windows image (docs/windows.md). */
function answerFileFor(inst: Instance, image: Image): AnswerFile {
  const arch = image.windows?.arch ?? "x86_64";
  if (!Object.hasOwn(windowsArch, arch)) throw badRequest("UNSUPPORTED_ARCHITECTURE", `Image ${image.id} is ${arch}: answer files are made for x86_64, i386 and aarch64`);
  const file = buildAnswerFile({
    ...inst.windowsSettings,
    computerName: inst.hostname,
    admin: adminByMode[inst.adminPassword.mode],
    metadataUrl: `http://${metadataEndpoint.host}`,
    arch: windowsArch[arch],
  });
  checkAnswerFile(file);
  return file;
}

/** EC2's ClientToken: 1 to 64 printable ASCII characters (the /v1 schema takes these bounds). */
export const clientTokenFormat = { minLength: 1, maxLength: 64, pattern: "^[\\x20-\\x7e]+$" } as const;

export function checkClientToken(token: string): void {
  const { minLength, maxLength, pattern } = clientTokenFormat;
  if (token.length < minLength || token.length > maxLength || !new RegExp(pattern).test(token)) {
    throw badRequest("INVALID_CLIENT_TOKEN", "A client token must be 1 to 64 printable ASCII characters");
  }
}

/** What a repeated launch must ask for again to be the same launch. */
export interface LaunchParameters {
  imageId: string;
  count: number;
  instanceType: string;
  keyName: string | null;
}

/**
 * A launch repeated with the token of an earlier one (EC2 idempotency): the
 * instances it launched when it asks for the same, else a 409.
 */
export function repeatedLaunch(earlier: Instance[], token: string, asked: LaunchParameters): Instance[] {
  const first = earlier[0];
  const same =
    first !== undefined &&
    earlier.length === asked.count &&
    earlier.every((i) => i.imageId === asked.imageId && i.instanceType === asked.instanceType && i.keyName === asked.keyName);
  if (!same) {
    throw conflict(
      "IDEMPOTENT_PARAMETER_MISMATCH",
      `Client token ${token} was used for another launch (${earlier.length} x ${first?.instanceType ?? "?"} of ${first?.imageId ?? "?"}, key ${first?.keyName ?? "none"}): a repeated launch must ask for the same image, count, instance type and key pair`,
    );
  }
  return earlier;
}

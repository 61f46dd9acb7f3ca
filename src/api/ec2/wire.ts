import { deviceNames } from "../../core/devices.ts";
import type { InstanceState } from "../../core/instance-state.ts";
import type { Image, Instance, KeyPair, Snapshot, Tags, Volume } from "../../core/types.ts";
import { accountId, zoneOf } from "./context.ts";
import { set, type XmlObject } from "./xml.ts";

const GiB = 1024 ** 3;
export const gib = (bytes: number) => Math.max(1, Math.ceil(bytes / GiB));

/** The platform's tag on every image: EC2 has no field for generalized or specialized. */
export const osStateTag = "imagesmith:os-state";

export const tagSet = (tags: Tags) => set(Object.entries(tags).map(([key, value]) => ({ key, value })));

/** The tags an image shows: its own, and the platform's os-state. */
export const imageTags = (image: Image): Tags => ({ ...image.tags, [osStateTag]: image.osState });

/**
 * EC2 has six instance states; ours map onto them. rebooting is running (as an
 * EC2 reboot is); deallocated and generalized are stopped, with the reason saying which.
 */
const ec2States: Record<InstanceState, { code: number; name: string }> = {
  pending: { code: 0, name: "pending" },
  running: { code: 16, name: "running" },
  rebooting: { code: 16, name: "running" },
  "shutting-down": { code: 32, name: "shutting-down" },
  terminated: { code: 48, name: "terminated" },
  stopping: { code: 64, name: "stopping" },
  stopped: { code: 80, name: "stopped" },
  deallocated: { code: 80, name: "stopped" },
  generalized: { code: 80, name: "stopped" },
};
export const ec2State = (s: InstanceState) => ec2States[s];

/** EC2 image states: ours, except that a deregistered image is not shown at all. */
export function imageItem(image: Image): XmlObject {
  const windows = image.osType === "windows";
  return {
    imageId: image.id,
    imageLocation: `${accountId}/${image.name}`,
    imageState: image.state,
    imageOwnerId: accountId,
    creationDate: image.createdAt,
    isPublic: false,
    architecture: image.architecture,
    imageType: "machine",
    platform: windows ? "windows" : undefined,
    platformDetails: windows ? "Windows" : "Linux/UNIX",
    stateReason: image.stateReason ? { code: image.state === "failed" ? "Server.InternalError" : image.state, message: image.stateReason } : undefined,
    name: image.name,
    description: image.description,
    rootDeviceType: "ebs",
    rootDeviceName: image.rootDeviceName,
    blockDeviceMapping: set(
      image.blockDeviceMappings.map((m) => ({
        deviceName: m.deviceName,
        ebs: { snapshotId: m.snapshotId, volumeSize: gib(m.volumeSize), deleteOnTermination: m.deleteOnTermination, volumeType: "standard", encrypted: false },
      })),
    ),
    virtualizationType: "hvm",
    tagSet: tagSet(imageTags(image)),
    bootMode: "legacy-bios",
  };
}

export function instanceItem(inst: Instance, image: Image | undefined, volumes: Volume[], region: string, launchIndex: number): XmlObject {
  const root = image?.rootDeviceName ?? "/dev/vda";
  const devices = deviceNames(root, volumes);
  const windows = image?.osType === "windows";
  return {
    instanceId: inst.id,
    imageId: inst.imageId,
    instanceState: ec2State(inst.state),
    privateDnsName: inst.hostname,
    dnsName: "",
    reason: inst.stateReason ?? "",
    keyName: inst.keyName ?? undefined,
    amiLaunchIndex: launchIndex,
    instanceType: inst.instanceType,
    launchTime: inst.launchedAt,
    placement: { availabilityZone: zoneOf(region), tenancy: "default" },
    platform: windows ? "windows" : undefined,
    platformDetails: windows ? "Windows" : "Linux/UNIX",
    monitoring: { state: "disabled" },
    stateReason: inst.stateReason ? { code: inst.state, message: inst.stateReason } : undefined,
    architecture: image?.architecture ?? "x86_64",
    rootDeviceType: "ebs",
    rootDeviceName: root,
    blockDeviceMapping: set(
      volumes.map((v) => ({
        deviceName: devices.get(v.id),
        ebs: { volumeId: v.id, status: "attached", attachTime: v.createdAt, deleteOnTermination: v.deleteOnTermination },
      })),
    ),
    virtualizationType: "hvm",
    clientToken: inst.clientToken ?? "",
    tagSet: tagSet(inst.tags),
    hypervisor: "xen",
    networkInterfaceSet: set([{ macAddress: inst.macAddress, status: "in-use", privateDnsName: inst.hostname }]),
  };
}

export function snapshotItem(s: Snapshot): XmlObject {
  return {
    snapshotId: s.id,
    volumeId: s.volumeId ?? "vol-ffffffff",
    status: s.state,
    statusMessage: s.stateReason ?? undefined,
    startTime: s.createdAt,
    progress: `${Math.floor(s.progress)}%`,
    ownerId: accountId,
    volumeSize: gib(s.volumeSize),
    description: s.description,
    encrypted: false,
    storageTier: "standard",
    tagSet: tagSet(s.tags),
  };
}

/** EC2 volume states are ours. */
export function volumeItem(v: Volume, device: string | undefined, region: string): XmlObject {
  return {
    volumeId: v.id,
    size: gib(v.size),
    snapshotId: v.baseSnapshotId ?? "",
    availabilityZone: zoneOf(region),
    status: v.state,
    createTime: v.createdAt,
    attachmentSet: set(
      v.instanceId && v.state === "in-use"
        ? [{ volumeId: v.id, instanceId: v.instanceId, device, status: "attached", attachTime: v.createdAt, deleteOnTermination: v.deleteOnTermination }]
        : [],
    ),
    volumeType: "standard",
    encrypted: false,
    multiAttachEnabled: false,
    tagSet: tagSet(v.tags),
  };
}

export function keyPairItem(k: KeyPair, withPublicKey: boolean): XmlObject {
  return {
    keyPairId: k.id,
    keyFingerprint: k.fingerprint,
    keyName: k.name,
    keyType: k.type,
    tagSet: set([]),
    publicKey: withPublicKey ? k.publicKey : undefined,
    createTime: k.createdAt,
  };
}

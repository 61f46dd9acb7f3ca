import type { Snapshot, Volume } from "../../../core/types.ts";
import type { Services } from "../../../services/services.ts";
import { accountId, zoneOf, type Ec2Handler } from "../context.ts";
import { Ec2Error, idChecker, invalidParameter } from "../ec2-error.ts";
import { applyFilters, pageOf, readPage, type FilterFields } from "../filters.ts";
import { gib, snapshotItem, volumeItem } from "../wire.ts";
import { deviceNames, sameDevice } from "../../../core/devices.ts";
import { set } from "../xml.ts";
import { checkOwners, tagsFor } from "./images.ts";

const snapshotId = idChecker("snapshot", "InvalidSnapshotID.Malformed");
const volumeId = idChecker("volume", "InvalidVolumeID.Malformed");

function onlyTypes(specs: Map<string, unknown>, type: string): void {
  for (const t of specs.keys()) if (t !== type) throw invalidParameter(`TagSpecification ResourceType ${t.slice(0, 32)} is not valid here; use ${type}`);
}

/** The device each attached volume has on its instance, for all volumes at once. */
function devices(services: Services): Map<string, string> {
  const roots = new Map(services.images.list({}).map((i) => [i.id as string, i.rootDeviceName]));
  const byInstance = new Map<string, Volume[]>();
  for (const v of services.volumes.list({})) if (v.instanceId) byInstance.set(v.instanceId, [...(byInstance.get(v.instanceId) ?? []), v]);
  const names = new Map<string, string>();
  for (const inst of services.instances.list()) {
    for (const [id, name] of deviceNames(roots.get(inst.imageId) ?? "/dev/vda", byInstance.get(inst.id) ?? [])) names.set(id, name);
  }
  return names;
}

const snapshotFields: FilterFields<Snapshot> = {
  "snapshot-id": (s) => s.id,
  "volume-id": (s) => s.volumeId,
  status: (s) => s.state,
  "owner-id": () => accountId,
  description: (s) => s.description,
  "volume-size": (s) => gib(s.volumeSize),
  "start-time": (s) => s.createdAt,
  progress: (s) => `${Math.floor(s.progress)}%`,
};

const createSnapshot: Ec2Handler = (p, { services }) => {
  const volume = volumeId(p.required("VolumeId"));
  const description = p.string("Description");
  const specs = p.tagSpecs();
  onlyTypes(specs, "snapshot");
  const { tags } = tagsFor(specs, "snapshot", []);
  p.done();
  const { snapshot } = services.volumes.snapshot(volume, { description, tags });
  return snapshotItem(snapshot);
};

const describeSnapshots: Ec2Handler = (p, { services }) => {
  const ids = p.list("SnapshotId").map(snapshotId);
  checkOwners(p);
  p.list("RestorableBy");
  const filters = p.filters();
  const request = readPage(p, { min: 5, max: 1000 });
  p.done();
  let all = services.snapshots.list();
  if (ids.length > 0) {
    const missing = ids.filter((id) => !all.some((s) => s.id === id));
    if (missing.length > 0) throw new Ec2Error("InvalidSnapshot.NotFound", 400, `The snapshot '${missing.join(", ")}' does not exist`);
    all = all.filter((s) => ids.includes(s.id));
  }
  const { page, nextToken } = pageOf(applyFilters(all, filters, snapshotFields, (s) => s.tags), request);
  return { snapshotSet: set(page.map(snapshotItem)), nextToken };
};

const deleteSnapshot: Ec2Handler = async (p, { services }) => {
  const id = snapshotId(p.required("SnapshotId"));
  p.done();
  await services.snapshots.delete(id);
  return { return: true };
};

const volumeFields = (names: Map<string, string>): FilterFields<Volume> => ({
  "volume-id": (v) => v.id,
  status: (v) => v.state,
  size: (v) => gib(v.size),
  "snapshot-id": (v) => v.baseSnapshotId,
  "attachment.instance-id": (v) => v.instanceId,
  "attachment.device": (v) => names.get(v.id),
  "attachment.delete-on-termination": (v) => v.deleteOnTermination,
  "create-time": (v) => v.createdAt,
  "volume-type": () => "standard",
  encrypted: () => false,
});

const createVolume: Ec2Handler = async (p, { services, region }) => {
  const zone = p.required("AvailabilityZone");
  if (zone !== zoneOf(region)) throw invalidParameter(`The availability zone ${zone.slice(0, 32)} is not in ${region}; this host is ${zoneOf(region)}`);
  const sizeGiB = p.int("Size", 1, 16384);
  const snapshot = p.string("SnapshotId");
  if (snapshot !== undefined) snapshotId(snapshot);
  const type = p.string("VolumeType");
  if (type !== undefined && type !== "standard") throw invalidParameter(`VolumeType ${type.slice(0, 16)}: volumes here are standard`);
  if (p.bool("Encrypted") === true) throw invalidParameter("Encrypted volumes are not served");
  const specs = p.tagSpecs();
  onlyTypes(specs, "volume");
  const { tags } = tagsFor(specs, "volume", []);
  const clientToken = p.string("ClientToken");
  p.done();
  const v = await services.volumes.create({ sizeGiB, snapshotId: snapshot, tags, clientToken });
  return volumeItem(v, undefined, region);
};

const describeVolumes: Ec2Handler = (p, { services, region }) => {
  const ids = p.list("VolumeId").map(volumeId);
  const filters = p.filters();
  const request = readPage(p, { min: 5, max: 500 });
  p.done();
  let all = services.volumes.list({});
  if (ids.length > 0) {
    const missing = ids.filter((id) => !all.some((v) => v.id === id));
    if (missing.length > 0) throw new Ec2Error("InvalidVolume.NotFound", 400, `The volume '${missing.join(", ")}' does not exist`);
    all = all.filter((v) => ids.includes(v.id));
  }
  const names = devices(services);
  const { page, nextToken } = pageOf(applyFilters(all, filters, volumeFields(names), (v) => v.tags), request);
  return { volumeSet: set(page.map((v) => volumeItem(v, names.get(v.id), region))), nextToken };
};

const attachment = (v: Volume, device: string | undefined, state: string) => ({
  volumeId: v.id,
  instanceId: v.instanceId ?? undefined,
  device,
  status: state,
  attachTime: v.createdAt,
  deleteOnTermination: v.deleteOnTermination,
});

/**
 * Data volumes take their names by creation order (core/devices.ts): the name the
 * volume would get is worked out first, and a different one asked for is refused
 * before anything is attached.
 */
const attachVolume: Ec2Handler = (p, { services }) => {
  const id = volumeId(p.required("VolumeId"));
  const instanceId = p.required("InstanceId");
  const device = p.required("Device");
  p.done();
  const inst = services.instances.get(instanceId);
  const volume = services.volumes.get(id);
  const root = services.images.list({}).find((i) => i.id === inst.imageId)?.rootDeviceName ?? "/dev/vda";
  const would = deviceNames(root, [...services.volumes.list({ instanceId }).filter((v) => v.id !== id), volume]).get(id);
  if (would && !sameDevice(would, device)) {
    throw invalidParameter(`Volume ${id} would be ${would} on ${instanceId} (data volumes are named in the order they were created), not ${device.slice(0, 32)}`);
  }
  const v = services.volumes.attach(id, instanceId);
  return attachment(v, would, "attached");
};

/** Force and Device change nothing here: a detach needs the instance stopped, so it is always clean. */
const detachVolume: Ec2Handler = (p, { services }) => {
  const id = volumeId(p.required("VolumeId"));
  const instanceId = p.string("InstanceId");
  const device = p.string("Device");
  p.bool("Force");
  p.done();
  const before = services.volumes.get(id);
  if (instanceId !== undefined && before.instanceId !== instanceId) throw new Ec2Error("IncorrectState", 400, `Volume ${id} is not attached to ${instanceId.slice(0, 32)}`);
  const name = devices(services).get(id);
  if (device !== undefined && name !== undefined && !sameDevice(name, device)) throw new Ec2Error("IncorrectState", 400, `Volume ${id} is ${name}, not ${device.slice(0, 32)}`);
  services.volumes.detach(id);
  return attachment(before, name, "detached");
};

const deleteVolume: Ec2Handler = async (p, { services }) => {
  const id = volumeId(p.required("VolumeId"));
  p.done();
  await services.volumes.delete(id);
  return { return: true };
};

export const storageActions: Record<string, Ec2Handler> = {
  CreateSnapshot: createSnapshot,
  DescribeSnapshots: describeSnapshots,
  DeleteSnapshot: deleteSnapshot,
  CreateVolume: createVolume,
  DescribeVolumes: describeVolumes,
  AttachVolume: attachVolume,
  DetachVolume: detachVolume,
  DeleteVolume: deleteVolume,
};

import { isId } from "../../../core/ids.ts";
import type { Snapshot, Volume } from "../../../core/types.ts";
import type { Services } from "../../../services/services.ts";
import { accountId, zoneOf, type Ec2Handler } from "../context.ts";
import { Ec2Error, invalidParameter } from "../ec2-error.ts";
import { applyFilters, paginate, type FilterFields } from "../filters.ts";
import { deviceNames, gib, snapshotItem, volumeItem } from "../wire.ts";
import { set } from "../xml.ts";
import { tagsFor } from "./images.ts";

const checkId = (kind: "snapshot" | "volume", code: string) => (id: string) => {
  if (!isId(kind, id)) throw new Ec2Error(code, 400, `Invalid id: "${id.slice(0, 64)}"`);
  return id;
};
const snapshotId = checkId("snapshot", "InvalidSnapshotID.Malformed");
const volumeId = checkId("volume", "InvalidVolumeID.Malformed");

function onlyTypes(specs: Map<string, unknown>, type: string): void {
  for (const t of specs.keys()) if (t !== type) throw invalidParameter(`TagSpecification ResourceType ${t.slice(0, 32)} is not valid here; use ${type}`);
}

/** The device a volume has on its instance, if attached. */
function deviceOf(services: Services, v: Volume): string | undefined {
  if (!v.instanceId) return undefined;
  const inst = services.instances.list().find((i) => i.id === v.instanceId);
  const root = inst ? services.images.list({}).find((x) => x.id === inst.imageId)?.rootDeviceName : undefined;
  return deviceNames(root ?? "/dev/vda", services.volumes.list({ instanceId: v.instanceId })).get(v.id);
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
  for (const o of p.list("Owner")) if (o !== "self" && o !== accountId) throw invalidParameter(`Owner ${o.slice(0, 64)}: this endpoint has one account, ${accountId} (self)`);
  p.list("RestorableBy");
  const filters = p.filters();
  let all = services.snapshots.list();
  if (ids.length > 0) {
    const missing = ids.filter((id) => !all.some((s) => s.id === id));
    if (missing.length > 0) throw new Ec2Error("InvalidSnapshot.NotFound", 400, `The snapshot '${missing.join(", ")}' does not exist`);
    all = all.filter((s) => ids.includes(s.id));
  }
  const { page, nextToken } = paginate(applyFilters(all, filters, snapshotFields, (s) => s.tags), p, { min: 5, max: 1000 });
  p.done();
  return { snapshotSet: set(page.map(snapshotItem)), nextToken };
};

const deleteSnapshot: Ec2Handler = async (p, { services }) => {
  const id = snapshotId(p.required("SnapshotId"));
  p.done();
  await services.snapshots.delete(id);
  return { return: true };
};

const volumeFields = (services: Services): FilterFields<Volume> => ({
  "volume-id": (v) => v.id,
  status: (v) => v.state,
  size: (v) => gib(v.size),
  "snapshot-id": (v) => v.baseSnapshotId,
  "attachment.instance-id": (v) => v.instanceId,
  "attachment.device": (v) => deviceOf(services, v),
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
  p.string("ClientToken");
  p.done();
  const v = await services.volumes.create({ sizeGiB, snapshotId: snapshot, tags });
  return volumeItem(v, undefined, region);
};

const describeVolumes: Ec2Handler = (p, { services, region }) => {
  const ids = p.list("VolumeId").map(volumeId);
  const filters = p.filters();
  let all = services.volumes.list({});
  if (ids.length > 0) {
    const missing = ids.filter((id) => !all.some((v) => v.id === id));
    if (missing.length > 0) throw new Ec2Error("InvalidVolume.NotFound", 400, `The volume '${missing.join(", ")}' does not exist`);
    all = all.filter((v) => ids.includes(v.id));
  }
  const { page, nextToken } = paginate(applyFilters(all, filters, volumeFields(services), (v) => v.tags), p, { min: 5, max: 500 });
  p.done();
  return { volumeSet: set(page.map((v) => volumeItem(v, deviceOf(services, v), region))), nextToken };
};

const attachment = (services: Services, v: Volume, state: string) => ({
  volumeId: v.id,
  instanceId: v.instanceId ?? undefined,
  device: deviceOf(services, v),
  status: state,
  attachTime: v.createdAt,
  deleteOnTermination: v.deleteOnTermination,
});

/** The device is where it lands in attach order; a different name asked for is refused rather than ignored. */
const attachVolume: Ec2Handler = (p, { services }) => {
  const id = volumeId(p.required("VolumeId"));
  const instanceId = p.required("InstanceId");
  const device = p.required("Device");
  p.done();
  const v = services.volumes.attach(id, instanceId);
  const given = deviceOf(services, v);
  if (given && given.replace(/^\/dev\/(sd|xvd|vd)/, "") !== device.replace(/^\/dev\/(sd|xvd|vd)/, "")) {
    services.volumes.detach(id);
    throw invalidParameter(`Volume ${id} would be ${given} on ${instanceId} (data volumes take the next free name in attach order), not ${device.slice(0, 32)}`);
  }
  return attachment(services, v, "attached");
};

const detachVolume: Ec2Handler = (p, { services }) => {
  const id = volumeId(p.required("VolumeId"));
  const instanceId = p.string("InstanceId");
  p.string("Device");
  p.bool("Force");
  p.done();
  const before = services.volumes.get(id);
  if (instanceId !== undefined && before.instanceId !== instanceId) throw new Ec2Error("IncorrectState", 400, `Volume ${id} is not attached to ${instanceId.slice(0, 32)}`);
  const shown = attachment(services, before, "detached");
  services.volumes.detach(id);
  return shown;
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

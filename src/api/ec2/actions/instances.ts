import { AppError } from "../../../core/errors.ts";
import type { Instance } from "../../../core/types.ts";
import type { Services } from "../../../services/services.ts";
import { accountId, zoneOf, type Ec2Context, type Ec2Handler } from "../context.ts";
import { Ec2Error, idChecker, invalidParameter } from "../ec2-error.ts";
import { applyFilters, pageOf, readPage, type FilterFields } from "../filters.ts";
import type { Params } from "../params.ts";
import { ec2State, instanceItem } from "../wire.ts";
import { set, type XmlObject } from "../xml.ts";
import { checkImageId, tagsFor } from "./images.ts";

const duplicateIdentityTag = "imagesmith:allow-duplicate-identity";

const checkInstanceId = idChecker("instance", "InvalidInstanceID.Malformed");

/** The instances named, once each, all of which must exist (EC2 names every missing one). */
function named(services: Services, ids: string[]): Instance[] {
  const all = new Map(services.instances.list().map((i) => [i.id as string, i]));
  const wanted = [...new Set(ids.map(checkInstanceId))];
  const missing = wanted.filter((id) => !all.has(id));
  if (missing.length > 0) throw new Ec2Error("InvalidInstanceID.NotFound", 400, `The instance ID '${missing.join(", ").slice(0, 512)}' does not exist`);
  return wanted.map((id) => all.get(id) as Instance);
}

function instanceIds(p: Params, required: boolean): string[] {
  const ids = p.list("InstanceId");
  if (required && ids.length === 0) throw new Ec2Error("MissingParameter", 400, "The request must contain the parameter InstanceId.1");
  return ids;
}

const instanceFields: FilterFields<Instance> = {
  "instance-id": (i) => i.id,
  "image-id": (i) => i.imageId,
  "instance-state-name": (i) => ec2State(i.state).name,
  "instance-state-code": (i) => ec2State(i.state).code,
  "instance-type": (i) => i.instanceType,
  "key-name": (i) => i.keyName,
  "reservation-id": (i) => i.reservationId,
  "client-token": (i) => i.clientToken,
  "private-dns-name": (i) => i.hostname,
  "owner-id": () => accountId,
  architecture: () => "x86_64",
  "root-device-type": () => "ebs",
  "launch-time": (i) => i.launchedAt,
};

/** Filters that need more than the instance: its image's platform, the zone. */
const instanceFilters = (services: Services, region: string): FilterFields<Instance> => {
  const images = imagesById(services);
  return {
    ...instanceFields,
    platform: (i) => (images.get(i.imageId)?.osType === "windows" ? "windows" : undefined),
    "availability-zone": () => zoneOf(region),
  };
};

const imagesById = (services: Services) => new Map(services.images.list({}).map((x) => [x.id as string, x]));

function reservations(services: Services, instances: Instance[], region: string): XmlObject[] {
  const images = imagesById(services);
  const volumes = new Map<string, ReturnType<Services["volumes"]["list"]>>();
  for (const v of services.volumes.list({})) if (v.instanceId) volumes.set(v.instanceId, [...(volumes.get(v.instanceId) ?? []), v]);
  // An instance's launch index is its place in its whole reservation, whatever page it is on.
  const index = new Map<string, number>();
  const seen = new Map<string, number>();
  for (const i of services.instances.list()) {
    const n = seen.get(i.reservationId) ?? 0;
    index.set(i.id, n);
    seen.set(i.reservationId, n + 1);
  }
  const item = (inst: Instance) => instanceItem(inst, images.get(inst.imageId), volumes.get(inst.id) ?? [], region, index.get(inst.id) ?? 0);
  const groups = new Map<string, Instance[]>();
  for (const i of instances) groups.set(i.reservationId, [...(groups.get(i.reservationId) ?? []), i]);
  return [...groups].map(([reservationId, members]) => ({
    reservationId,
    ownerId: accountId,
    groupSet: set([]),
    instancesSet: set(members.map(item)),
  }));
}

const runInstances: Ec2Handler = async (p, { services, region }) => {
  const imageId = checkImageId(p.required("ImageId"));
  const min = p.int("MinCount", 1, 100);
  const max = p.int("MaxCount", 1, 100);
  if (min === undefined) throw new Ec2Error("MissingParameter", 400, "The request must contain the parameter MinCount");
  if (max === undefined) throw new Ec2Error("MissingParameter", 400, "The request must contain the parameter MaxCount");
  if (min > max) throw invalidParameter("MinCount must not be more than MaxCount");
  const instanceType = p.string("InstanceType");
  const keyName = p.string("KeyName");
  const userData64 = p.string("UserData");
  const clientToken = p.string("ClientToken");
  const zone = p.string("Placement.AvailabilityZone");
  if (zone !== undefined && zone !== zoneOf(region)) throw invalidParameter(`The availability zone ${zone.slice(0, 32)} is not in ${region}; this host is ${zoneOf(region)}`);
  const dataVolumes = p.structs("BlockDeviceMapping").map((m) => {
    const device = m.required("DeviceName");
    const size = m.int("Ebs.VolumeSize", 1, 16384);
    const snapshotId = m.string("Ebs.SnapshotId");
    const deleteOnTermination = m.bool("Ebs.DeleteOnTermination");
    const type = m.string("Ebs.VolumeType");
    if (type !== undefined && type !== "standard") throw invalidParameter(`Ebs.VolumeType ${type.slice(0, 16)}: volumes here are standard`);
    if (size === undefined && snapshotId === undefined) throw invalidParameter(`BlockDeviceMapping ${device.slice(0, 32)} needs Ebs.VolumeSize or Ebs.SnapshotId`);
    return { sizeGiB: size, snapshotId, deleteOnTermination };
  });
  const specs = p.tagSpecs();
  for (const t of specs.keys()) if (t !== "instance") throw invalidParameter(`TagSpecification ResourceType ${t.slice(0, 32)} is not served on RunInstances; use instance`);
  const { tags, platform } = tagsFor(specs, "instance", [duplicateIdentityTag]);
  p.done();
  let userData: string | undefined;
  if (userData64 !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(userData64)) throw invalidParameter("UserData must be base64-encoded");
    try {
      // User data is text here (cloud-config, a script): bytes that are not UTF-8 are refused rather than changed.
      userData = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(userData64, "base64"));
    } catch {
      throw invalidParameter("UserData must be UTF-8 text once decoded (gzip-compressed user data is not served)");
    }
  }
  const request = { imageId, instanceType, keyName, userData, tags, clientToken, dataVolumes, allowDuplicateIdentity: platform[duplicateIdentityTag] === "true" };
  let launched: Instance[];
  try {
    launched = await services.instances.run({ ...request, count: max });
  } catch (err) {
    // As EC2: MinCount when the host has no room for MaxCount. A replay of a launch that
    // fell back to MinCount meets its own token with the other count: it is replayed at MinCount.
    const fallBack = err instanceof AppError && (err.code === "INSUFFICIENT_CAPACITY" || (err.code === "IDEMPOTENT_PARAMETER_MISMATCH" && clientToken !== undefined));
    if (!fallBack || min === max) throw err;
    launched = await services.instances.run({ ...request, count: min });
  }
  const [reservation] = reservations(services, launched, region);
  return reservation ?? {};
};

const describeInstances: Ec2Handler = (p, { services, region }) => {
  const ids = instanceIds(p, false);
  const filters = p.filters();
  const page = readPage(p, { min: 5, max: 1000 });
  p.done();
  const all = ids.length > 0 ? named(services, ids) : services.instances.list();
  const { page: shown, nextToken } = pageOf(applyFilters(all, filters, instanceFilters(services, region), (i) => i.tags), page);
  return { reservationSet: set(reservations(services, shown, region)), nextToken };
};

const checkStatus = { ok: "ok", impaired: "impaired", initializing: "initializing" } as const;
/** Running as EC2 shows it: rebooting is running too. */
const runs = (i: Instance) => ec2State(i.state).name === "running";

const describeInstanceStatus: Ec2Handler = (p, { services, region }) => {
  const ids = instanceIds(p, false);
  const includeAll = p.bool("IncludeAllInstances") === true;
  const filters = p.filters();
  const page = readPage(p, { min: 5, max: 1000 });
  p.done();
  let all = ids.length > 0 ? named(services, ids) : services.instances.list();
  if (!includeAll) all = all.filter(runs);
  const statusOf = (i: Instance) => (runs(i) ? checkStatus[i.statusCheck] : "not-applicable");
  const systemOf = (i: Instance) => (runs(i) ? "ok" : "not-applicable");
  const fields: FilterFields<Instance> = {
    "instance-state-name": (i) => ec2State(i.state).name,
    "instance-state-code": (i) => ec2State(i.state).code,
    "instance-status.status": statusOf,
    "system-status.status": systemOf,
    "availability-zone": () => zoneOf(region),
  };
  const { page: shown, nextToken } = pageOf(applyFilters(all, filters, fields, (i) => i.tags), page);
  const reachability = { ok: "passed", impaired: "failed", initializing: "initializing", "not-applicable": "initializing" } as const;
  return {
    instanceStatusSet: set(
      shown.map((i) => ({
        instanceId: i.id,
        availabilityZone: zoneOf(region),
        instanceState: ec2State(i.state),
        instanceStatus: { status: statusOf(i), details: set([{ name: "reachability", status: reachability[statusOf(i)] }]) },
        systemStatus: { status: systemOf(i), details: set([{ name: "reachability", status: runs(i) ? "passed" : "initializing" }]) },
      })),
    ),
    nextToken,
  };
};

/** One state change per instance, as EC2 reports it: previous and current. */
async function changeAll(ctx: Ec2Context, ids: string[], change: (i: Instance) => Promise<Instance> | Instance) {
  const targets = named(ctx.services, ids);
  const out: XmlObject[] = [];
  for (const before of targets) {
    const after = await change(before);
    out.push({ instanceId: before.id, currentState: ec2State(after.state), previousState: ec2State(before.state) });
  }
  return set(out);
}

const startInstances: Ec2Handler = async (p, ctx) => {
  const ids = instanceIds(p, true);
  p.string("AdditionalInfo");
  p.done();
  // Starting what EC2 shows pending or running succeeds and changes nothing, as in EC2.
  const idle = ["pending", "running"];
  return { instancesSet: await changeAll(ctx, ids, (i) => (idle.includes(ec2State(i.state).name) ? i : ctx.services.instances.start(i.id))) };
};

const stopInstances: Ec2Handler = async (p, ctx) => {
  const ids = instanceIds(p, true);
  const force = p.bool("Force") === true;
  if (p.bool("Hibernate") === true) throw new Ec2Error("UnsupportedHibernationConfiguration", 400, "Hibernation is not served");
  p.done();
  // Stopping what EC2 shows stopping or stopped succeeds and changes nothing, as in EC2.
  const idle = ["stopping", "stopped"];
  return { instancesSet: await changeAll(ctx, ids, (i) => (idle.includes(ec2State(i.state).name) ? i : ctx.services.instances.stop(i.id, { force }))) };
};

const terminateInstances: Ec2Handler = async (p, ctx) => {
  const ids = instanceIds(p, true);
  p.done();
  const idle = ["shutting-down", "terminated"];
  return { instancesSet: await changeAll(ctx, ids, (i) => (idle.includes(ec2State(i.state).name) ? i : ctx.services.instances.terminate(i.id))) };
};

const rebootInstances: Ec2Handler = async (p, ctx) => {
  const ids = instanceIds(p, true);
  p.done();
  await changeAll(ctx, ids, (i) => ctx.services.instances.reboot(i.id));
  return { return: true };
};

const getConsoleOutput: Ec2Handler = async (p, { services }) => {
  const id = checkInstanceId(p.required("InstanceId"));
  p.bool("Latest");
  p.done();
  named(services, [id]);
  const output = await services.instances.consoleOutput(id);
  return { instanceId: id, timestamp: new Date().toISOString(), output: Buffer.from(output).toString("base64") };
};

/** Empty until the guest has confirmed the password, as EC2 answers (the waiter polls for it). */
const getPasswordData: Ec2Handler = async (p, { services }) => {
  const id = checkInstanceId(p.required("InstanceId"));
  p.done();
  const [inst] = named(services, [id]);
  try {
    const { passwordData, setAt } = await services.instances.passwordData(id);
    return { instanceId: id, timestamp: setAt, passwordData };
  } catch (err) {
    if (!(err instanceof AppError) || (err.code !== "PASSWORD_NOT_AVAILABLE" && err.code !== "NO_PASSWORD_DATA")) throw err;
    return { instanceId: id, timestamp: inst?.launchedAt, passwordData: "" };
  }
};

export const instanceActions: Record<string, Ec2Handler> = {
  RunInstances: runInstances,
  DescribeInstances: describeInstances,
  DescribeInstanceStatus: describeInstanceStatus,
  StartInstances: startInstances,
  StopInstances: stopInstances,
  RebootInstances: rebootInstances,
  TerminateInstances: terminateInstances,
  GetConsoleOutput: getConsoleOutput,
  GetPasswordData: getPasswordData,
};

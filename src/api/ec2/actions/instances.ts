import { AppError } from "../../../core/errors.ts";
import { isId } from "../../../core/ids.ts";
import type { Instance } from "../../../core/types.ts";
import type { Services } from "../../../services/services.ts";
import { accountId, zoneOf, type Ec2Context, type Ec2Handler } from "../context.ts";
import { Ec2Error, invalidParameter } from "../ec2-error.ts";
import { applyFilters, paginate, type FilterFields } from "../filters.ts";
import type { Params } from "../params.ts";
import { ec2State, instanceItem } from "../wire.ts";
import { set, type XmlObject } from "../xml.ts";
import { checkImageId, tagsFor } from "./images.ts";

const duplicateIdentityTag = "imagesmith:allow-duplicate-identity";

function checkInstanceId(id: string): string {
  if (!isId("instance", id)) throw new Ec2Error("InvalidInstanceID.Malformed", 400, `Invalid id: "${id.slice(0, 64)}" (expecting "i-" and 17 hexadecimal digits)`);
  return id;
}

/** The instances named, all of which must exist (EC2 names every missing one). */
function named(services: Services, ids: string[]): Instance[] {
  const found = ids.map((id) => services.instances.list().find((i) => i.id === checkInstanceId(id)));
  const missing = ids.filter((_, n) => !found[n]);
  if (missing.length > 0) throw new Ec2Error("InvalidInstanceID.NotFound", 400, `The instance ID '${missing.join(", ")}' does not exist`);
  return found as Instance[];
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

function item(services: Services, inst: Instance, region: string, launchIndex = 0): XmlObject {
  const image = services.images.list({}).find((x) => x.id === inst.imageId);
  return instanceItem(inst, image, services.volumes.list({ instanceId: inst.id }), region, launchIndex);
}

function reservations(services: Services, instances: Instance[], region: string): XmlObject[] {
  const groups = new Map<string, Instance[]>();
  for (const i of instances) groups.set(i.reservationId, [...(groups.get(i.reservationId) ?? []), i]);
  return [...groups].map(([reservationId, members]) => ({
    reservationId,
    ownerId: accountId,
    groupSet: set([]),
    instancesSet: set(members.map((m, n) => item(services, m, region, n))),
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
    m.string("Ebs.VolumeType");
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
    userData = Buffer.from(userData64, "base64").toString("utf8");
  }
  const request = { imageId, instanceType, keyName, userData, tags, clientToken, dataVolumes, allowDuplicateIdentity: platform[duplicateIdentityTag] === "true" };
  let launched: Instance[];
  try {
    launched = await services.instances.run({ ...request, count: max });
  } catch (err) {
    // As EC2: fewer than MaxCount, down to MinCount, when the host has room for no more.
    if (!(err instanceof AppError && err.code === "INSUFFICIENT_CAPACITY") || min === max) throw err;
    launched = await services.instances.run({ ...request, count: min });
  }
  const [reservation] = reservations(services, launched, region);
  return reservation ?? {};
};

const describeInstances: Ec2Handler = (p, { services, region }) => {
  const ids = instanceIds(p, false);
  const filters = p.filters();
  const all = ids.length > 0 ? named(services, ids) : services.instances.list();
  const { page, nextToken } = paginate(applyFilters(all, filters, instanceFields, (i) => i.tags), p, { min: 5, max: 1000 });
  p.done();
  return { reservationSet: set(reservations(services, page, region)), nextToken };
};

const checkStatus = { ok: "ok", impaired: "impaired", initializing: "initializing" } as const;

const describeInstanceStatus: Ec2Handler = (p, { services, region }) => {
  const ids = instanceIds(p, false);
  const includeAll = p.bool("IncludeAllInstances") === true;
  const filters = p.filters();
  let all = ids.length > 0 ? named(services, ids) : services.instances.list();
  if (!includeAll) all = all.filter((i) => i.state === "running");
  const statusOf = (i: Instance) => (i.state === "running" ? checkStatus[i.statusCheck] : "not-applicable");
  const fields: FilterFields<Instance> = {
    "instance-state-name": (i) => ec2State(i.state).name,
    "instance-state-code": (i) => ec2State(i.state).code,
    "instance-status.status": statusOf,
    "system-status.status": (i) => (i.state === "running" ? "ok" : "not-applicable"),
    "availability-zone": () => zoneOf(region),
  };
  const { page, nextToken } = paginate(applyFilters(all, filters, fields, (i) => i.tags), p, { min: 5, max: 1000 });
  p.done();
  const reachability = { ok: "passed", impaired: "failed", initializing: "initializing", "not-applicable": "initializing" } as const;
  return {
    instanceStatusSet: set(
      page.map((i) => ({
        instanceId: i.id,
        availabilityZone: zoneOf(region),
        instanceState: ec2State(i.state),
        instanceStatus: { status: statusOf(i), details: set([{ name: "reachability", status: reachability[statusOf(i)] }]) },
        systemStatus: { status: i.state === "running" ? "ok" : "not-applicable", details: set([{ name: "reachability", status: i.state === "running" ? "passed" : "initializing" }]) },
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
  // Starting what runs already succeeds and changes nothing, as in EC2.
  const idle = ["pending", "running", "rebooting"];
  return { instancesSet: await changeAll(ctx, ids, (i) => (idle.includes(i.state) ? i : ctx.services.instances.start(i.id))) };
};

const stopInstances: Ec2Handler = async (p, ctx) => {
  const ids = instanceIds(p, true);
  const force = p.bool("Force") === true;
  if (p.bool("Hibernate") === true) throw new Ec2Error("UnsupportedHibernationConfiguration", 400, "Hibernation is not served");
  p.done();
  // Stopping what is stopped (or stopping) succeeds and changes nothing, as in EC2.
  const idle = ["stopping", "stopped", "deallocated", "generalized"];
  return { instancesSet: await changeAll(ctx, ids, (i) => (idle.includes(i.state) ? i : ctx.services.instances.stop(i.id, { force }))) };
};

const terminateInstances: Ec2Handler = async (p, ctx) => {
  const ids = instanceIds(p, true);
  p.done();
  const idle = ["shutting-down", "terminated"];
  return { instancesSet: await changeAll(ctx, ids, (i) => (idle.includes(i.state) ? i : ctx.services.instances.terminate(i.id))) };
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
const getPasswordData: Ec2Handler = (p, { services }) => {
  const id = checkInstanceId(p.required("InstanceId"));
  p.done();
  const [inst] = named(services, [id]);
  try {
    const { passwordData, setAt } = services.instances.passwordData(id);
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

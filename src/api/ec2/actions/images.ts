import type { Image, Tags } from "../../../core/types.ts";
import { accountId, type Ec2Handler } from "../context.ts";
import { Ec2Error, idChecker, invalidParameter } from "../ec2-error.ts";
import { applyFilters, pageOf, readPage, type FilterFields } from "../filters.ts";
import type { Params } from "../params.ts";
import { imageItem, imageTags, osStateTag } from "../wire.ts";
import { deviceNames, sameDevice } from "../../../core/devices.ts";
import { set } from "../xml.ts";

/** Platform tags a caller may put on CreateImage to ask for what EC2 has no field for. */
const removeUserTag = "imagesmith:remove-user";

const imageFields: FilterFields<Image> = {
  "image-id": (i) => i.id,
  name: (i) => i.name,
  state: (i) => i.state,
  "owner-id": () => accountId,
  "owner-alias": () => "self",
  "is-public": () => false,
  platform: (i) => (i.osType === "windows" ? "windows" : undefined),
  "platform-details": (i) => (i.osType === "windows" ? "Windows" : "Linux/UNIX"),
  "root-device-name": (i) => i.rootDeviceName,
  "root-device-type": () => "ebs",
  architecture: (i) => i.architecture,
  "image-type": () => "machine",
  description: (i) => i.description,
  "virtualization-type": () => "hvm",
  "block-device-mapping.snapshot-id": (i) => i.blockDeviceMappings.map((m) => m.snapshotId),
  "block-device-mapping.device-name": (i) => i.blockDeviceMappings.map((m) => m.deviceName),
};

export const checkImageId = idChecker("image", "InvalidAMIID.Malformed");

const notFound = (ids: string[]) => new Ec2Error("InvalidAMIID.NotFound", 400, `The image id '[${ids.join(", ")}]' does not exist`);

/** Owner.N: everything here is the caller's own. */
export function checkOwners(p: Params): void {
  for (const o of p.list("Owner")) if (o !== "self" && o !== accountId) throw invalidParameter(`Owner ${o.slice(0, 64)}: this endpoint has one account, ${accountId} (self)`);
}

/** Owners and executable-by, of images. */
function checkImageOwners(p: Params): void {
  checkOwners(p);
  for (const e of p.list("ExecutableBy")) if (e !== "self" && e !== "all" && e !== accountId) throw invalidParameter(`ExecutableBy ${e.slice(0, 64)} is not an account here`);
}

/** Tags for a TagSpecification resource type, with the platform's keys kept apart. */
export function tagsFor(specs: Map<string, Tags>, type: string, allowed: readonly string[]): { tags: Tags; platform: Tags } {
  const tags: Tags = {};
  const platform: Tags = {};
  for (const [k, v] of Object.entries(specs.get(type) ?? {})) {
    if (!k.toLowerCase().startsWith("imagesmith:")) tags[k] = v;
    else if (allowed.includes(k)) platform[k] = v;
    else throw invalidParameter(`The tag ${k.slice(0, 128)} is the platform's; on ${type} only ${allowed.join(", ") || "none"} may be given`);
  }
  return { tags, platform };
}

function checkSpecTypes(specs: Map<string, Tags>, types: string[]): void {
  for (const t of specs.keys()) if (!types.includes(t)) throw invalidParameter(`TagSpecification ResourceType ${t.slice(0, 32)} is not valid here; use ${types.join(" or ")}`);
}

const describeImages: Ec2Handler = (p, { services }) => {
  const ids = p.list("ImageId").map(checkImageId);
  checkImageOwners(p);
  p.bool("IncludeDeprecated");
  const filters = p.filters();
  const page = readPage(p);
  p.done();
  // By id, each image is looked up on its own: the catalog is not read whole for a few ids.
  const found = new Map<string, Image>();
  for (const id of ids) {
    const image = services.images.find(id);
    if (image && image.state !== "deregistered") found.set(id, image);
  }
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length > 0) throw notFound(missing);
  const images = ids.length > 0 ? [...found.values()] : services.images.list({}).filter((i) => i.state !== "deregistered");
  const { page: shown, nextToken } = pageOf(applyFilters(images, filters, imageFields, imageTags), page);
  return { imagesSet: set(shown.map(imageItem)), nextToken };
};

const createImage: Ec2Handler = (p, { services }) => {
  const instanceId = p.required("InstanceId");
  const name = p.required("Name");
  const description = p.string("Description");
  const noReboot = p.bool("NoReboot");
  const specs = p.tagSpecs();
  checkSpecTypes(specs, ["image", "snapshot"]);
  const image = tagsFor(specs, "image", [osStateTag, removeUserTag]);
  const snapshot = tagsFor(specs, "snapshot", []);
  const osState = image.platform[osStateTag];
  if (osState !== undefined && osState !== "generalized" && osState !== "specialized") throw invalidParameter(`${osStateTag} must be generalized or specialized`);
  const removeUser = image.platform[removeUserTag];
  if (removeUser !== undefined && removeUser !== "true" && removeUser !== "false") throw invalidParameter(`${removeUserTag} must be true or false`);
  if (removeUser === "true" && osState !== "generalized") throw invalidParameter(`${removeUserTag}=true goes with ${osStateTag}=generalized`);
  // NoDevice names a data volume to leave out; other mappings would add disks, which a capture does not.
  const excluded: string[] = [];
  for (const m of p.structs("BlockDeviceMapping")) {
    const device = m.required("DeviceName");
    const noDevice = m.string("NoDevice");
    if (noDevice === undefined) throw invalidParameter(`BlockDeviceMapping ${device.slice(0, 32)}: CreateImage takes only NoDevice mappings here (to leave a data volume out)`);
    excluded.push(device);
  }
  p.done();
  const excludeVolumeIds = excluded.length > 0 ? volumesByDevice(services, instanceId, excluded) : undefined;
  const { image: created } = services.imageCapture.create({
    instanceId,
    name,
    description,
    noReboot,
    generalize: osState === "generalized",
    removeUser: removeUser === "true",
    excludeVolumeIds,
    tags: image.tags,
    snapshotTags: snapshot.tags,
  });
  return { imageId: created.id };
};

function volumesByDevice(services: Parameters<Ec2Handler>[1]["services"], instanceId: string, devices: string[]): string[] {
  const inst = services.instances.get(instanceId);
  const names = deviceNames(services.images.get(inst.imageId).rootDeviceName, services.volumes.list({ instanceId }));
  return devices.map((d) => {
    const found = [...names].find(([, name]) => sameDevice(name, d));
    if (!found) throw invalidParameter(`Instance ${instanceId} has no device ${d.slice(0, 32)}`);
    return found[0];
  });
}

const deregisterImage: Ec2Handler = async (p, { services }) => {
  const id = checkImageId(p.required("ImageId"));
  const deleteSnapshots = p.bool("DeleteAssociatedSnapshots") === true;
  p.done();
  await services.images.deregister(id, deleteSnapshots);
  return { return: true };
};

const registerImage: Ec2Handler = (p, { services }) => {
  const name = p.required("Name");
  const description = p.string("Description");
  const architecture = p.string("Architecture");
  if (architecture !== undefined && architecture !== "x86_64") throw invalidParameter(`Architecture ${architecture.slice(0, 32)}: images here are x86_64`);
  const virtualization = p.string("VirtualizationType");
  if (virtualization !== undefined && virtualization !== "hvm") throw invalidParameter("VirtualizationType must be hvm");
  const rootDeviceName = p.string("RootDeviceName");
  const mappings = p.structs("BlockDeviceMapping").map((m) => ({ device: m.required("DeviceName"), snapshotId: m.string("Ebs.SnapshotId") }));
  const specs = p.tagSpecs();
  checkSpecTypes(specs, ["image"]);
  const { tags, platform } = tagsFor(specs, "image", [osStateTag, "imagesmith:os-type"]);
  p.done();
  // The root disk is the guest's first virtio disk, /dev/vda (sda and xvda name it too); asking for another is refused, not ignored.
  if (rootDeviceName !== undefined && !sameDevice(rootDeviceName, "/dev/vda")) throw invalidParameter(`RootDeviceName ${rootDeviceName.slice(0, 32)}: the root device here is /dev/vda (sda and xvda name it too)`);
  if (mappings.length > 1) throw invalidParameter("RegisterImage takes one block device mapping here: the root snapshot");
  const root = mappings[0];
  if (!root?.snapshotId) throw new Ec2Error("MissingParameter", 400, "RegisterImage needs a BlockDeviceMapping with Ebs.SnapshotId for the root device");
  if (!sameDevice(root.device, rootDeviceName ?? "/dev/vda")) throw invalidParameter(`The block device mapping ${root.device.slice(0, 32)} is not the root device ${rootDeviceName ?? "/dev/vda"}`);
  const osState = platform[osStateTag];
  if (osState !== "generalized" && osState !== "specialized") {
    throw new Ec2Error("MissingParameter", 400, `Say whether the snapshot is generalized or specialized: a TagSpecification for the image with ${osStateTag}=generalized|specialized (launches never guess)`);
  }
  const osType = platform["imagesmith:os-type"] ?? "linux";
  if (osType !== "linux" && osType !== "windows") throw invalidParameter("imagesmith:os-type must be linux or windows");
  const image = services.images.register({ name, snapshotId: root.snapshotId, osState, osType, description, tags });
  return { imageId: image.id };
};

const copyImage: Ec2Handler = (p, { services }) => {
  const source = checkImageId(p.required("SourceImageId"));
  p.required("SourceRegion");
  const name = p.required("Name");
  const description = p.string("Description");
  if (p.bool("Encrypted") === true) throw invalidParameter("Encrypted copies are not served: the chunk store is not encrypted per image");
  const copyTags = p.bool("CopyImageTags") === true;
  const specs = p.tagSpecs();
  checkSpecTypes(specs, ["image"]);
  const { tags } = tagsFor(specs, "image", []);
  const clientToken = p.string("ClientToken");
  p.done();
  const image = services.images.copy(source, { name, description, tags, copyTags, clientToken });
  return { imageId: image.id };
};

const describeImageAttribute: Ec2Handler = (p, { services }) => {
  const id = checkImageId(p.required("ImageId"));
  const attribute = p.required("Attribute");
  p.done();
  const image = services.images.get(id);
  if (image.state === "deregistered") throw notFound([id]);
  const item = imageItem(image);
  switch (attribute) {
    case "description":
      return { imageId: id, description: { value: image.description } };
    case "blockDeviceMapping":
      return { imageId: id, blockDeviceMapping: item.blockDeviceMapping };
    case "launchPermission":
      return { imageId: id, launchPermission: set([]) };
    case "bootMode":
      return { imageId: id, bootMode: { value: "legacy-bios" } };
    default:
      throw invalidParameter(`Attribute ${attribute.slice(0, 32)} is not served; use description, blockDeviceMapping, launchPermission or bootMode`);
  }
};

export const imageActions: Record<string, Ec2Handler> = {
  DescribeImages: describeImages,
  CreateImage: createImage,
  DeregisterImage: deregisterImage,
  RegisterImage: registerImage,
  CopyImage: copyImage,
  DescribeImageAttribute: describeImageAttribute,
};

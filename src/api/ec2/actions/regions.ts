import { instanceTypes, type InstanceType } from "../../../core/instance-types.ts";
import { zoneOf, type Ec2Handler } from "../context.ts";
import { invalidParameter } from "../ec2-error.ts";
import { applyFilters, pageOf, readPage, type FilterFields } from "../filters.ts";
import { set } from "../xml.ts";

/** One region, the one the client signed for, and one zone in it: this host. */
const describeRegions: Ec2Handler = (p, { region }) => {
  const names = p.list("RegionName");
  p.bool("AllRegions");
  const filters = p.filters();
  p.done();
  const regions = applyFilters([region], filters, { "region-name": (r) => r, endpoint: () => "imagesmith", "opt-in-status": () => "opt-in-not-required" }, () => ({}));
  const shown = regions.filter((r) => names.length === 0 || names.includes(r));
  if (names.some((n) => n !== region)) throw invalidParameter(`Only the region you signed for, ${region}, is here`);
  return { regionInfo: set(shown.map((r) => ({ regionName: r, regionEndpoint: "imagesmith", optInStatus: "opt-in-not-required" }))) };
};

const describeAvailabilityZones: Ec2Handler = (p, { region }) => {
  const names = p.list("ZoneName");
  const ids = p.list("ZoneId");
  p.bool("AllAvailabilityZones");
  const filters = p.filters();
  p.done();
  const zone = zoneOf(region);
  const zoneId = `${region}-az1`;
  if (names.some((n) => n !== zone) || ids.some((i) => i !== zoneId)) throw invalidParameter(`The one availability zone here is ${zone} (${zoneId})`);
  const fields: FilterFields<string> = { "zone-name": (z) => z, "zone-id": () => zoneId, "region-name": () => region, state: () => "available", "zone-type": () => "availability-zone" };
  const zones = applyFilters([zone], filters, fields, () => ({}));
  return {
    availabilityZoneInfo: set(zones.map((z) => ({ zoneName: z, zoneState: "available", regionName: region, zoneId, zoneType: "availability-zone", optInStatus: "opt-in-not-required", messageSet: set([]) }))),
  };
};

const typeFields: FilterFields<InstanceType> = {
  "instance-type": (t) => t.name,
  "vcpu-info.default-vcpus": (t) => t.vcpus,
  "memory-info.size-in-mib": (t) => t.memoryMiB,
  "processor-info.supported-architecture": () => "x86_64",
  "current-generation": () => true,
};

const describeInstanceTypes: Ec2Handler = (p) => {
  const names = p.list("InstanceType");
  const filters = p.filters();
  const unknown = names.filter((n) => !instanceTypes.some((t) => t.name === n));
  if (unknown.length > 0) throw invalidParameter(`The instance type '${unknown.join(", ").slice(0, 128)}' does not exist here; DescribeInstanceTypes lists those that do`);
  const request = readPage(p, { min: 5, max: 100 });
  p.done();
  const wanted = instanceTypes.filter((t) => names.length === 0 || names.includes(t.name));
  const { page, nextToken } = pageOf(applyFilters(wanted, filters, typeFields, () => ({})), request);
  return {
    instanceTypeSet: set(
      page.map((t) => ({
        instanceType: t.name,
        currentGeneration: true,
        supportedUsageClasses: set(["on-demand"]),
        supportedRootDeviceTypes: set(["ebs"]),
        supportedVirtualizationTypes: set(["hvm"]),
        bareMetal: false,
        hypervisor: "xen",
        processorInfo: { supportedArchitectures: set(["x86_64"]) },
        vCpuInfo: { defaultVCpus: t.vcpus, defaultCores: t.vcpus, defaultThreadsPerCore: 1 },
        memoryInfo: { sizeInMiB: t.memoryMiB },
        instanceStorageSupported: false,
      })),
    ),
    nextToken,
  };
};

export const regionActions: Record<string, Ec2Handler> = {
  DescribeRegions: describeRegions,
  DescribeAvailabilityZones: describeAvailabilityZones,
  DescribeInstanceTypes: describeInstanceTypes,
};

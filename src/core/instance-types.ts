import { badRequest } from "./errors.ts";

export interface InstanceType {
  name: string;
  vcpus: number;
  memoryMiB: number;
}

// Small types suit emulated (TCG) hosts; the t3 names let EC2 clients ask
// for what they know.
export const instanceTypes: readonly InstanceType[] = [
  { name: "is.nano", vcpus: 1, memoryMiB: 256 },
  { name: "is.micro", vcpus: 1, memoryMiB: 512 },
  { name: "is.small", vcpus: 2, memoryMiB: 1024 },
  { name: "is.medium", vcpus: 2, memoryMiB: 2048 },
  { name: "t3.nano", vcpus: 2, memoryMiB: 512 },
  { name: "t3.micro", vcpus: 2, memoryMiB: 1024 },
  { name: "t3.small", vcpus: 2, memoryMiB: 2048 },
];

export const defaultInstanceType = "is.nano";

export function findInstanceType(name: string): InstanceType {
  const t = instanceTypes.find((x) => x.name === name);
  if (!t) {
    const known = instanceTypes.map((x) => x.name).join(", ");
    throw badRequest("UNKNOWN_INSTANCE_TYPE", `Unknown instance type ${name}: choose one of ${known}`);
  }
  return t;
}

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { XMLParser } from "fast-xml-parser";
import type { Image, Instance, KeyPair, Snapshot, Volume } from "../../core/types.ts";
import type { Services } from "../../services/services.ts";
import { actions } from "./actions/index.ts";
import { Params } from "./params.ts";
import { renderResponse } from "./xml.ts";

// botocore's EC2 model, as Debian's awscli ships it (scripts/setup.sh installs it).
const modelFile = "/usr/lib/python3/dist-packages/awscli/botocore/data/ec2/2016-11-15/service-2.json";

interface Shape {
  type: string;
  members?: Record<string, { shape: string; locationName?: string }>;
  member?: { shape: string; locationName?: string };
  enum?: string[];
}
const model = JSON.parse(readFileSync(modelFile, "utf8")) as { operations: Record<string, { output?: { shape: string } }>; shapes: Record<string, Shape> };

/**
 * Enums whose values are open here: our own instance types (is.nano, …) stand beside
 * EC2's, and EC2 itself sends platform as "windows" though the model lists "Windows".
 */
const openEnums = new Set(["InstanceType", "PlatformValues"]);

type Node = Record<string, unknown[]>;
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: () => true });

/** Every element against its shape: names, nesting, and scalar forms and enums. */
function check(value: unknown, shapeName: string, path: string, problems: string[]): void {
  const shape = model.shapes[shapeName];
  if (!shape) return void problems.push(`${path}: no shape ${shapeName}`);
  if (shape.type === "structure") {
    if (value === "") return;
    for (const [name, children] of Object.entries(value as Node)) {
      const member = Object.entries(shape.members ?? {}).find(([m, d]) => (d.locationName ?? m) === name);
      if (!member) {
        problems.push(`${path}/${name}: not a member of ${shapeName}`);
        continue;
      }
      for (const c of children) check(c, member[1].shape, `${path}/${name}`, problems);
    }
  } else if (shape.type === "list") {
    if (value === "") return;
    const itemName = shape.member?.locationName ?? "item";
    for (const [name, children] of Object.entries(value as Node)) {
      if (name !== itemName) problems.push(`${path}/${name}: list ${shapeName} holds ${itemName}`);
      for (const c of children) check(c, shape.member?.shape ?? "", `${path}/${name}`, problems);
    }
  } else {
    if (typeof value !== "string") return void problems.push(`${path}: ${shapeName} is a ${shape.type}, not an element with children`);
    if (shape.type === "boolean" && value !== "true" && value !== "false") problems.push(`${path}: boolean ${value}`);
    if ((shape.type === "integer" || shape.type === "long") && !/^-?\d+$/.test(value)) problems.push(`${path}: integer ${value}`);
    if (shape.type === "timestamp" && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(value)) problems.push(`${path}: timestamp ${value} (RFC 3339 with milliseconds)`);
    if (shape.enum && !openEnums.has(shapeName) && !shape.enum.includes(value)) problems.push(`${path}: ${value} is not one of ${shapeName}'s values`);
  }
}

function checkResponse(action: string, xml: string): string[] {
  const doc = parser.parse(xml) as Node;
  const root = (doc[`${action}Response`]?.[0] ?? {}) as Node;
  assert.ok(doc[`${action}Response`], `${action}: the root element is ${action}Response`);
  const problems: string[] = [];
  const output = model.operations[action]?.output?.shape;
  for (const [name, children] of Object.entries(root)) {
    if (name === "requestId") continue;
    // EC2 answers actions with no output with <return>true</return>; clients ignore it.
    if (name === "return" && (!output || model.shapes[output]?.members?.Return)) continue;
    const member = output ? Object.entries(model.shapes[output]?.members ?? {}).find(([m, d]) => (d.locationName ?? m) === name) : undefined;
    if (!member) {
      problems.push(`${action}/${name}: not in ${output ?? "the (empty) output"}`);
      continue;
    }
    for (const c of children) check(c, member[1].shape, `${action}/${name}`, problems);
  }
  return problems;
}

// Sample resources, with every optional field filled so every element is emitted.
const now = "2026-12-02T10:00:00.000Z";
const image: Image = {
  id: "ami-0123456789abcdef0" as Image["id"],
  name: "golden",
  description: "a golden image",
  state: "failed",
  stateReason: "it failed",
  osType: "windows",
  osState: "generalized",
  architecture: "x86_64",
  rootDeviceName: "/dev/vda",
  defaultUser: "debian",
  virtualSize: 2 << 30,
  sourceFormat: null,
  blockDeviceMappings: [{ deviceName: "/dev/vda", snapshotId: "snap-0123456789abcdef0" as Snapshot["id"], volumeSize: 2 << 30, deleteOnTermination: true }],
  sourceInstanceId: "i-0123456789abcdef0" as Instance["id"],
  consistency: "clean",
  tags: { Name: "golden" },
  createdAt: now,
};
const volume = (id: string, kind: Volume["kind"]): Volume => ({
  id: id as Volume["id"],
  state: "in-use",
  stateReason: null,
  kind,
  instanceId: "i-0123456789abcdef0" as Instance["id"],
  baseSnapshotId: "snap-0123456789abcdef0" as Snapshot["id"],
  size: 2 << 30,
  deleteOnTermination: true,
  path: "/x",
  tags: { Name: "v" },
  createdAt: now,
});
const volumes = [volume("vol-0123456789abcdef0", "boot"), volume("vol-0123456789abcdef1", "data")];
const instance: Instance = {
  id: "i-0123456789abcdef0" as Instance["id"],
  reservationId: "r-0123456789abcdef0" as Instance["reservationId"],
  clientToken: "token",
  imageId: image.id,
  instanceType: "is.nano",
  vcpus: 1,
  memoryMiB: 256,
  state: "stopped",
  stateReason: "User initiated shutdown",
  keyName: "k",
  hostname: "i-0123456789abcdef0",
  macAddress: "52:54:00:12:34:56",
  smbiosUuid: "u",
  bootVolumeId: volumes[0]!.id,
  userData: null,
  statusCheck: "ok",
  statusReason: null,
  phoneHome: { expected: true, at: now },
  seeded: true,
  adminPassword: { mode: "random", passwordData: "Y2lwaGVy", setAt: now },
  runtime: null,
  launchedAt: now,
  tags: { Name: "web" },
};
const running: Instance = { ...instance, id: "i-0123456789abcdef1" as Instance["id"], state: "running" };
const snapshot: Snapshot = {
  id: "snap-0123456789abcdef0" as Snapshot["id"],
  volumeId: volumes[0]!.id,
  parentId: null,
  state: "completed",
  stateReason: "done",
  description: "d",
  volumeSize: 2 << 30,
  consistency: "clean",
  progress: 100,
  bytesRead: 1,
  bytesStored: 1,
  tags: { Name: "s" },
  createdAt: now,
};
const keyPair: KeyPair = { id: "key-0123456789abcdef0" as KeyPair["id"], name: "k", type: "rsa", publicKey: "ssh-rsa AAAA k", fingerprint: "SHA256:x", createdAt: now };

// Stands in for the services: this test is about the shapes the actions write, nothing else.
const services = {
  images: { list: () => [image], get: () => image, register: () => image, copy: () => image, deregister: async () => ({}) },
  imageCapture: { create: () => ({ image }) },
  instances: {
    list: () => [instance, running],
    get: () => instance,
    run: async () => [instance],
    start: () => running,
    stop: () => instance,
    terminate: () => instance,
    reboot: async () => running,
    consoleOutput: async () => "console",
    passwordData: () => ({ passwordData: "Y2lwaGVy", setAt: now }),
  },
  volumes: { list: () => volumes, get: () => volumes[1], create: async () => volumes[1], attach: () => volumes[1], detach: () => volumes[1], delete: async () => undefined, snapshot: () => ({ snapshot }) },
  snapshots: { list: () => [snapshot], delete: async () => undefined },
  keyPairs: { list: () => [keyPair], create: async () => ({ keyPair, privateKey: "PEM" }), import: () => keyPair, delete: () => undefined },
  tags: { create: () => undefined, delete: () => undefined, list: () => [{ resourceId: image.id, resourceType: "image", key: "Name", value: "golden" }] },
} as unknown as Services;

// Parameters that make each action emit its whole answer.
const requests: Record<string, string> = {
  DescribeImages: "",
  CreateImage: "InstanceId=i-0123456789abcdef0&Name=n",
  DeregisterImage: "ImageId=ami-0123456789abcdef0",
  RegisterImage: "Name=n&BlockDeviceMapping.1.DeviceName=/dev/vda&BlockDeviceMapping.1.Ebs.SnapshotId=snap-0123456789abcdef0&TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.1.Key=imagesmith:os-state&TagSpecification.1.Tag.1.Value=generalized",
  CopyImage: "SourceImageId=ami-0123456789abcdef0&SourceRegion=r&Name=n",
  DescribeImageAttribute: "ImageId=ami-0123456789abcdef0&Attribute=description",
  RunInstances: "ImageId=ami-0123456789abcdef0&MinCount=1&MaxCount=1",
  DescribeInstances: "",
  DescribeInstanceStatus: "IncludeAllInstances=true",
  StartInstances: "InstanceId.1=i-0123456789abcdef0",
  StopInstances: "InstanceId.1=i-0123456789abcdef1",
  RebootInstances: "InstanceId.1=i-0123456789abcdef1",
  TerminateInstances: "InstanceId.1=i-0123456789abcdef0",
  GetConsoleOutput: "InstanceId=i-0123456789abcdef0",
  GetPasswordData: "InstanceId=i-0123456789abcdef0",
  CreateSnapshot: "VolumeId=vol-0123456789abcdef0",
  DescribeSnapshots: "",
  DeleteSnapshot: "SnapshotId=snap-0123456789abcdef0",
  CreateVolume: "AvailabilityZone=us-east-1a&Size=1",
  DescribeVolumes: "",
  AttachVolume: "VolumeId=vol-0123456789abcdef1&InstanceId=i-0123456789abcdef0&Device=/dev/vdb",
  DetachVolume: "VolumeId=vol-0123456789abcdef1",
  DeleteVolume: "VolumeId=vol-0123456789abcdef1",
  CreateKeyPair: "KeyName=k",
  ImportKeyPair: `KeyName=k&PublicKeyMaterial=${Buffer.from("ssh-ed25519 AAAA").toString("base64")}`,
  DescribeKeyPairs: "IncludePublicKey=true",
  DeleteKeyPair: "KeyName=k",
  CreateTags: "ResourceId.1=ami-0123456789abcdef0&Tag.1.Key=a&Tag.1.Value=b",
  DeleteTags: "ResourceId.1=ami-0123456789abcdef0",
  DescribeTags: "",
  DescribeInstanceTypes: "",
  DescribeRegions: "",
  DescribeAvailabilityZones: "",
};

test("every action the endpoint serves is an EC2 operation, and has a sample here", () => {
  for (const action of Object.keys(actions)) {
    assert.ok(model.operations[action], `${action} is not in botocore's EC2 model`);
    assert.ok(action in requests, `${action} has no sample request in this test`);
  }
});

for (const [action, body] of Object.entries(requests)) {
  test(`${action}: every element name, nesting and value form is botocore's`, async () => {
    const handler = actions[action];
    assert.ok(handler, `${action} is served`);
    const params = Params.parse(body);
    const xml = renderResponse(action, "req-1", await handler(params, { services, region: "us-east-1" }));
    assert.ok(params.finished, `${action} checks its parameters`);
    assert.deepEqual(checkResponse(action, xml), []);
  });
}

test("the checker itself catches a wrong name, a wrong list item, a bad timestamp and a value outside an enum", () => {
  const bad = renderResponse("DescribeImages", "r", { imagesSet: { item: [{ imageID: "x", blockDeviceMapping: { member: [{}] }, imageState: "gone" }] } });
  const problems = [...checkResponse("DescribeImages", bad), ...checkResponse("DescribeSnapshots", renderResponse("DescribeSnapshots", "r", { snapshotSet: { item: [{ startTime: "2026-12-02T10:00:00Z" }] } }))];
  assert.ok(problems.some((p) => p.includes("imageID")));
  assert.ok(problems.some((p) => p.includes("holds item")));
  assert.ok(problems.some((p) => p.includes("timestamp")));
  assert.ok(problems.some((p) => p.includes("gone is not one of")));
});

test("empty lists are still written, as <imagesSet/>", () => {
  assert.match(renderResponse("DescribeImages", "r", { imagesSet: "" }), /<imagesSet\/>/);
});

test("a character XML cannot carry is never written: it becomes U+FFFD", () => {
  const xml = renderResponse("DescribeTags", "r", { tagSet: { item: [{ key: "k", value: "a\u0001b\uFFFF" }] } });
  assert.match(xml, /<value>a\uFFFDb\uFFFD<\/value>/);
  assert.ok(parser.parse(xml));
});

// Wire types, named by resource and verb. Routes validate with these and the
// OpenAPI document is generated from them; TypeScript types are inferred.
import { inputLimits } from "../core/input-rules.ts";
import { Type, type Static, type TSchema } from "typebox";
import { idPattern, idPrefixes } from "../core/ids.ts";
import { instanceStates } from "../core/instance-state.ts";
import { reservedTagPrefixes, tagLimits } from "../core/tag-rules.ts";
import { maxPatternLength } from "../services/filters.ts";
import { clientTokenFormat } from "../services/launch-rules.ts";

const strict = { additionalProperties: false } as const;
const nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);

const TagKey = Type.String({ minLength: 1, maxLength: tagLimits.keyLength });
const TagValue = Type.String({ maxLength: tagLimits.valueLength });
const tagsOptions = {
  maxProperties: tagLimits.perResource,
  // A Record's key schema bounds nothing in JSON Schema: propertyNames does.
  propertyNames: { minLength: 1, maxLength: tagLimits.keyLength },
  description: `keys of 1 to ${tagLimits.keyLength} characters, not starting with ${reservedTagPrefixes.join(" or ")} (400 RESERVED_TAG_KEY)`,
};
export const Tags = Type.Record(Type.String(), TagValue, tagsOptions);
/** Ids in paths and filters: bounded, whatever their kind. */
const AnyId = Type.String({ minLength: 1, maxLength: 64 });
const Name = Type.String({ minLength: 1, maxLength: inputLimits.imageName, pattern: inputLimits.imageNamePattern });

export const ErrorBody = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String() }) },
  { $id: "ErrorBody" },
);

export const Health = Type.Object({ status: Type.Literal("ok"), accelerator: Type.String() });

export const KeyPair = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.Enum(["rsa", "ed25519"]),
  publicKey: Type.String(),
  fingerprint: Type.String(),
  createdAt: Type.String(),
});
export const KeyPairsPost = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255 }),
    publicKey: Type.Optional(Type.String({ minLength: 1, maxLength: 16384 })),
  },
  strict,
);
export const KeyPairCreated = Type.Object({
  keyPair: KeyPair,
  privateKey: Type.Optional(Type.String({ description: "PEM, returned once and never stored" })),
});
export const KeyPairName = Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }, strict);

export const AccessKey = Type.Object({
  accessKeyId: Type.String({ description: "AKIA and 16 characters of A-Z and 2-7" }),
  createdAt: Type.String(),
  lastUsedAt: nullable(Type.String({ description: "when the key last signed a request; updated at most once a minute" })),
});
export const AccessKeyCreated = Type.Object({
  accessKeyId: Type.String(),
  secretAccessKey: Type.String({ description: "40 characters, returned once; stored only encrypted" }),
  createdAt: Type.String(),
});
export const AccessKeysList = Type.Object({ accessKeys: Type.Array(AccessKey) });

const WindowsInspection = Type.Object({
  productName: Type.String(),
  majorVersion: Type.Integer(),
  minorVersion: Type.Integer(),
  installationType: Type.String({ description: "Server or Client" }),
  arch: Type.String({ description: "x86_64, i386 or aarch64" }),
  hostname: nullable(Type.String({ description: "Services\\Tcpip\\Parameters\\Hostname in the current control set" })),
  systemRoot: Type.String(),
});
export const PreflightFinding = Type.Object({
  code: Type.String(),
  severity: Type.Enum(["blocking", "warning"]),
  where: Type.String(),
  message: Type.String(),
  fix: Type.String(),
});

export const Image = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  state: Type.Enum(["pending", "available", "failed", "deregistered"]),
  stateReason: nullable(Type.String()),
  osType: Type.Enum(["linux", "windows"]),
  osState: Type.Enum(["generalized", "specialized"]),
  architecture: Type.String(),
  rootDeviceName: Type.String(),
  defaultUser: Type.String(),
  virtualSize: Type.Integer(),
  sourceFormat: nullable(Type.String()),
  blockDeviceMappings: Type.Array(
    Type.Object({ deviceName: Type.String(), snapshotId: Type.String(), volumeSize: Type.Integer(), deleteOnTermination: Type.Boolean() }),
  ),
  sourceInstanceId: nullable(Type.String()),
  consistency: nullable(Type.Enum(["clean", "crash-consistent", "fs-frozen"])),
  windows: Type.Optional(nullable(WindowsInspection)),
  generalizations: Type.Optional(Type.Integer({ description: "generalizations (Sysprep runs) in the image's lineage; Sysprep stops at 1001" })),
  imageType: Type.Optional(nullable(Type.Enum(["general", "custom"], { description: "a generalized Windows image: general recreates the default user with a new password at each launch; custom keeps it" }))),
  tags: Tags,
  createdAt: Type.String(),
});
const TagFilterItem = Type.String({ pattern: "^[^=]+=.*$", maxLength: 129 + maxPatternLength });
const TagFilter = Type.Union([TagFilterItem, Type.Array(TagFilterItem, { maxItems: 20 })], {
  description: "key=value (value may hold * and ?); repeat for more",
});
export const ImagesPost = Type.Object(
  {
    instanceId: Type.String({ pattern: idPattern("instance") }),
    name: Name,
    description: Type.Optional(Type.String({ maxLength: inputLimits.description })),
    generalize: Type.Optional(Type.Boolean({ description: "generalize a copy offline; the source keeps running" })),
    removeUser: Type.Optional(Type.Boolean({ description: "with generalize: also remove the default user (deprovision+user)" })),
    noReboot: Type.Optional(Type.Boolean()),
    excludeVolumeIds: Type.Optional(Type.Array(Type.String({ pattern: idPattern("volume") }))),
    tags: Type.Optional(Tags),
    snapshotTags: Type.Optional(Tags),
    force: Type.Optional(Type.Boolean({ description: "a generalized Windows capture despite blocking Sysprep preflight findings" })),
    imageType: Type.Optional(Type.Enum(["general", "custom"], { description: "a generalized Windows image: general (default) or custom, as OCI" })),
  },
  strict,
);
export const ImagesRegisterPost = Type.Object(
  {
    name: Name,
    snapshotId: Type.String({ pattern: idPattern("snapshot") }),
    osType: Type.Enum(["linux", "windows"]),
    osState: Type.Enum(["generalized", "specialized"]),
    description: Type.Optional(Type.String({ maxLength: inputLimits.description })),
    defaultUser: Type.Optional(Type.String({ pattern: "^[a-z_][a-z0-9_-]{0,31}$|^Administrator$" })),
    tags: Type.Optional(Tags),
  },
  strict,
);
export const ImageCopyPost = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String({ maxLength: inputLimits.description, description: "default: the source's" })),
    tags: Type.Optional(Tags),
    copyTags: Type.Optional(Type.Boolean({ description: "take the source's tags too; tags given here win" })),
  },
  strict,
);
export const ImageDeregisterPost = Type.Object({ deleteSnapshots: Type.Optional(Type.Boolean()) }, strict);
export const ImagePreflightPost = Type.Object(
  { fix: Type.Optional(Type.Boolean({ description: "a stopped instance's disk only: delete the leftover Panther answer files" })) },
  strict,
);
export const ImageExportPost = Type.Object({ format: Type.Enum(["raw", "qcow2", "vhd", "vmdk", "vdi"]) }, strict);
export const ImagesImportQuery = Type.Object(
  {
    name: Name,
    osType: Type.Enum(["linux", "windows"]),
    osState: Type.Optional(Type.Enum(["generalized", "specialized"])),
    description: Type.Optional(Type.String({ maxLength: inputLimits.description })),
    defaultUser: Type.Optional(Type.String({ pattern: "^[a-z_][a-z0-9_-]{0,31}$|^Administrator$" })),
  },
  strict,
);
export const ImagesListQuery = Type.Object(
  {
    state: Type.Optional(Type.Enum(["pending", "available", "failed", "deregistered"])),
    name: Type.Optional(Type.String({ maxLength: maxPatternLength, description: "wildcards * and ?" })),
    osState: Type.Optional(Type.Enum(["generalized", "specialized"])),
    tag: Type.Optional(TagFilter),
    sourceInstanceId: Type.Optional(AnyId),
  },
  strict,
);

export const Operation = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  state: Type.Enum(["running", "succeeded", "failed"]),
  progress: Type.Number({ minimum: 0, maximum: 100 }),
  message: Type.String(),
  targetId: nullable(Type.String()),
  error: nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  result: nullable(Type.Record(Type.String(), Type.Unknown())),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export const OperationWaitQuery = Type.Object(
  { wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 60, description: "seconds to wait for the end" })) },
  strict,
);
export const ImageImported = Type.Object({ image: Image, operation: Operation });
export const ImageDeregistered = Type.Object({
  image: Image,
  deletedSnapshots: Type.Array(Type.String()),
  keptSnapshots: Type.Array(Type.Object({ id: Type.String(), reason: Type.String() })),
});

export const Instance = Type.Object({
  id: Type.String(),
  reservationId: Type.String({ description: "the launch (run) it came from; the instances of one launch share it" }),
  clientToken: nullable(Type.String({ description: "the idempotency token of that launch, if any" })),
  imageId: Type.String(),
  instanceType: Type.String(),
  vcpus: Type.Integer(),
  memoryMiB: Type.Integer(),
  state: Type.Enum(instanceStates),
  stateReason: nullable(Type.String()),
  ready: Type.Boolean({ description: "the status check is ok: the guest reported ready" }),
  statusCheck: Type.Enum(["initializing", "ok", "impaired"], { description: "EC2's instance status: whether the guest is up, apart from the VM's state" }),
  statusReason: nullable(Type.String()),
  adminPasswordMode: Type.Enum(["random", "specify", "keep", "none"]),
  passwordSetAt: nullable(Type.String({ description: "when the guest reported the admin password set" })),
  keyName: nullable(Type.String()),
  hostname: Type.String(),
  macAddress: Type.String(),
  smbiosUuid: Type.String(),
  bootVolumeId: Type.String(),
  sshPort: nullable(Type.Integer({ description: "127.0.0.1 port forwarded to the guest's SSH" })),
  launchedAt: Type.String(),
  tags: Tags,
});
export const InstancesPost = Type.Object(
  {
    imageId: Type.String({ pattern: idPattern("image") }),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: inputLimits.launchCount, default: 1 })),
    instanceType: Type.Optional(Type.String({ maxLength: 32 })),
    keyName: Type.Optional(Type.String({ maxLength: inputLimits.description })),
    userData: Type.Optional(Type.String({ maxLength: inputLimits.userDataBytes })),
    hostname: Type.Optional(Type.String({ pattern: "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$" })),
    tags: Type.Optional(Tags),
    adminPassword: Type.Optional(
      Type.Object(
        {
          mode: Type.Enum(["random", "specify", "keep", "none"]),
          password: Type.Optional(Type.String({ minLength: 8, maxLength: 128, description: "specify only; never stored" })),
        },
        strict,
      ),
    ),
    allowDuplicateIdentity: Type.Optional(Type.Boolean({ description: "launch a specialized image more than once at a time" })),
    windowsSettings: Type.Optional(
      Type.Object(
        {
          timeZone: Type.Optional(Type.String({ maxLength: 32, description: "a Windows time zone id; default UTC" })),
          locale: Type.Optional(Type.String({ maxLength: 85, description: "InputLocale, SystemLocale, UILanguage, UserLocale; default en-US" })),
          copyProfile: Type.Optional(Type.Boolean({ description: "CopyProfile: the administrator's profile becomes the default one" })),
          registeredOrganization: Type.Optional(Type.String({ maxLength: 256 })),
          registeredOwner: Type.Optional(Type.String({ maxLength: 256 })),
        },
        { ...strict, description: "a generalized Windows image: the answer file's settings (docs/windows.md)" },
      ),
    ),
    clientToken: Type.Optional(
      Type.String({
        ...clientTokenFormat,
        description: "idempotency (EC2 ClientToken): a launch repeated with it launches nothing and answers the first launch's instances; 409 IDEMPOTENT_PARAMETER_MISMATCH if it asks for another image, count, instance type or key pair",
      }),
    ),
    dataVolumes: Type.Optional(
      Type.Array(
        Type.Object(
          {
            sizeGiB: Type.Optional(Type.Integer({ minimum: 1, maximum: 16384 })),
            snapshotId: Type.Optional(Type.String({ pattern: idPattern("snapshot") })),
            deleteOnTermination: Type.Optional(Type.Boolean()),
          },
          strict,
        ),
        { maxItems: 8 },
      ),
    ),
  },
  strict,
);
export const InstancesList = Type.Object({ instances: Type.Array(Instance) });
export const InstancesListQuery = Type.Object(
  {
    state: Type.Optional(Type.Enum(instanceStates)),
    imageId: Type.Optional(AnyId),
    tag: Type.Optional(TagFilter),
  },
  strict,
);
export const InstancePasswordData = Type.Object({
  instanceId: Type.String(),
  passwordData: Type.String({ description: "base64 of the password encrypted with the key pair's RSA key, PKCS#1 v1.5" }),
  timestamp: nullable(Type.String()),
});
export const InstanceCredentials = Type.Object({
  instanceId: Type.String(),
  username: Type.String(),
  password: Type.String({ description: "made at launch; stored only sealed, shown to authenticated callers" }),
});
export const InstanceConsole = Type.Object({ instanceId: Type.String(), output: Type.String(), timestamp: Type.String() });

export const Snapshot = Type.Object({
  id: Type.String(),
  volumeId: nullable(Type.String()),
  parentId: nullable(Type.String()),
  state: Type.Enum(["pending", "completed", "error"]),
  stateReason: nullable(Type.String()),
  description: Type.String(),
  volumeSize: Type.Integer(),
  consistency: Type.Enum(["fs-frozen", "crash-consistent", "clean"]),
  progress: Type.Number(),
  bytesRead: Type.Integer(),
  bytesStored: Type.Integer({ description: "new chunk bytes this snapshot added to the store" }),
  tags: Tags,
  createdAt: Type.String(),
});
export const SnapshotsPost = Type.Object(
  { volumeId: Type.String({ pattern: idPattern("volume") }), description: Type.Optional(Type.String({ maxLength: inputLimits.description })), tags: Type.Optional(Tags) },
  strict,
);
export const SnapshotCreated = Type.Object({ snapshot: Snapshot, operation: Operation });

export const Volume = Type.Object({
  id: Type.String(),
  state: Type.Enum(["creating", "available", "in-use", "error"]),
  stateReason: nullable(Type.String()),
  kind: Type.Enum(["boot", "data"]),
  instanceId: nullable(Type.String()),
  baseSnapshotId: nullable(Type.String()),
  size: Type.Integer(),
  deleteOnTermination: Type.Boolean(),
  tags: Tags,
  createdAt: Type.String(),
});
export const VolumesPost = Type.Object(
  {
    sizeGiB: Type.Optional(Type.Integer({ minimum: 1, maximum: 16384 })),
    snapshotId: Type.Optional(Type.String({ pattern: idPattern("snapshot") })),
    tags: Type.Optional(Tags),
  },
  strict,
);
export const VolumeAttachPost = Type.Object({ instanceId: Type.String({ pattern: idPattern("instance") }) }, strict);
export const VolumesListQuery = Type.Object(
  { instanceId: Type.Optional(AnyId), state: Type.Optional(Type.Enum(["creating", "available", "in-use", "error"])) },
  strict,
);

export const StateEvent = Type.Object({
  seq: Type.Integer(),
  time: Type.String(),
  resourceId: Type.String(),
  fromState: nullable(Type.String()),
  toState: Type.String(),
  reason: nullable(Type.String()),
});
export const EventsQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "only events after this seq" })),
    resourceId: Type.Optional(AnyId),
    wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 60, description: "seconds to wait for an event when there is none yet" })),
  },
  strict,
);
export const EventsList = Type.Object({ events: Type.Array(StateEvent), next: Type.Integer({ description: "pass as after= to get what follows" }) });

const TaggedId = Type.String({ pattern: `^(${[idPrefixes.image, idPrefixes.instance, idPrefixes.volume, idPrefixes.snapshot].join("|")})-[0-9a-f]{17}$` });
const TaggedIds = Type.Array(TaggedId, { minItems: 1, maxItems: 1000 });
export const TagsPost = Type.Object({ resourceIds: TaggedIds, tags: Type.Record(Type.String(), TagValue, { ...tagsOptions, minProperties: 1 }) }, strict);
export const TagsDeletePost = Type.Object(
  {
    resourceIds: TaggedIds,
    tags: Type.Optional(
      Type.Array(Type.Object({ key: TagKey, value: Type.Optional(TagValue) }, strict), {
        maxItems: 1000,
        description: "with a value, a tag goes only if it has that value; without one, whatever its value; no tags at all: every tag the user set",
      }),
    ),
  },
  strict,
);
export const TagDescription = Type.Object({
  resourceId: Type.String(),
  resourceType: Type.Enum(["image", "instance", "volume", "snapshot"]),
  key: Type.String(),
  value: Type.String(),
});
export const TagsList = Type.Object({ tags: Type.Array(TagDescription) });

export const IdParams = Type.Object({ id: AnyId }, strict);

export type KeyPairsPost = Static<typeof KeyPairsPost>;
export type ImagesImportQuery = Static<typeof ImagesImportQuery>;
export type ImagesListQuery = Static<typeof ImagesListQuery>;
export type InstancesPost = Static<typeof InstancesPost>;
export type InstancesListQuery = Static<typeof InstancesListQuery>;
export type OperationWaitQuery = Static<typeof OperationWaitQuery>;
export type IdParams = Static<typeof IdParams>;
export type StateEventWire = Static<typeof StateEvent>;
export type SnapshotWire = Static<typeof Snapshot>;
export type VolumeWire = Static<typeof Volume>;
export type VolumesPost = Static<typeof VolumesPost>;
export type ImageExportPost = Static<typeof ImageExportPost>;
export type ImagesPost = Static<typeof ImagesPost>;
export type ImagesRegisterPost = Static<typeof ImagesRegisterPost>;
export type ImageCopyPost = Static<typeof ImageCopyPost>;
export type DeregisterWire = Static<typeof ImageDeregistered>;
export type TagsPost = Static<typeof TagsPost>;
export type TagsDeletePost = Static<typeof TagsDeletePost>;
export type TagDescriptionWire = Static<typeof TagDescription>;

/** Repeated key=value query values as tags. */
export function tagFilter(value: string | string[] | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const tags: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const kv of Array.isArray(value) ? value : [value]) {
    const eq = kv.indexOf("=");
    tags[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return tags;
}
export type InstanceWire = Static<typeof Instance>;
export type ImageWire = Static<typeof Image>;
export type KeyPairWire = Static<typeof KeyPair>;
export type AccessKeyWire = Static<typeof AccessKey>;
export type AccessKeyCreatedWire = Static<typeof AccessKeyCreated>;
export type OperationWire = Static<typeof Operation>;
export type ErrorBodyWire = Static<typeof ErrorBody>;

import type { KeyPair } from "../../../core/types.ts";
import type { Ec2Handler } from "../context.ts";
import { Ec2Error, invalidParameter } from "../ec2-error.ts";
import { applyFilters, pageOf, readPage, type FilterFields } from "../filters.ts";
import type { Params } from "../params.ts";
import { imageTags, keyPairItem } from "../wire.ts";
import { set } from "../xml.ts";

function noTags(p: Params): void {
  if (p.tagSpecs().size > 0) throw invalidParameter("Key pairs here carry no tags");
}

const createKeyPair: Ec2Handler = async (p, { services }) => {
  const name = p.required("KeyName");
  const type = p.string("KeyType") ?? "rsa";
  if (type !== "rsa") throw invalidParameter(`KeyType ${type.slice(0, 16)}: created key pairs are RSA (they encrypt admin passwords); import an ed25519 key with ImportKeyPair`);
  const format = p.string("KeyFormat") ?? "pem";
  if (format !== "pem") throw invalidParameter("KeyFormat must be pem");
  noTags(p);
  p.done();
  const { keyPair, privateKey } = await services.keyPairs.create(name);
  return { keyName: keyPair.name, keyFingerprint: keyPair.fingerprint, keyMaterial: privateKey, keyPairId: keyPair.id };
};

const importKeyPair: Ec2Handler = (p, { services }) => {
  const name = p.required("KeyName");
  const material = p.required("PublicKeyMaterial");
  noTags(p);
  p.done();
  // A blob on the wire: base64 of the OpenSSH public key line.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(material)) throw invalidParameter("PublicKeyMaterial must be base64-encoded");
  const k = services.keyPairs.import(name, Buffer.from(material, "base64").toString("utf8"));
  return { keyName: k.name, keyFingerprint: k.fingerprint, keyPairId: k.id };
};

const keyFields: FilterFields<KeyPair> = {
  "key-name": (k) => k.name,
  "key-pair-id": (k) => k.id,
  fingerprint: (k) => k.fingerprint,
  "key-type": (k) => k.type,
};

const describeKeyPairs: Ec2Handler = (p, { services }) => {
  const names = p.list("KeyName");
  const ids = p.list("KeyPairId");
  const withPublicKey = p.bool("IncludePublicKey") === true;
  const filters = p.filters();
  p.done();
  let keys = services.keyPairs.list();
  const missing = [...names.filter((n) => !keys.some((k) => k.name === n)), ...ids.filter((i) => !keys.some((k) => k.id === i))];
  if (missing.length > 0) throw new Ec2Error("InvalidKeyPair.NotFound", 400, `The key pair '${missing.join(", ")}' does not exist`);
  if (names.length > 0 || ids.length > 0) keys = keys.filter((k) => names.includes(k.name) || ids.includes(k.id));
  return { keySet: set(applyFilters(keys, filters, keyFields, () => ({})).map((k) => keyPairItem(k, withPublicKey))) };
};

/** As EC2: deleting a key pair that is not there succeeds. */
const deleteKeyPair: Ec2Handler = (p, { services }) => {
  const name = p.string("KeyName");
  const id = p.string("KeyPairId");
  p.done();
  if (name === undefined && id === undefined) throw new Ec2Error("MissingParameter", 400, "The request must contain the parameter KeyName or KeyPairId");
  const key = services.keyPairs.list().find((k) => k.name === name || k.id === id);
  if (key) services.keyPairs.delete(key.name);
  return { return: true };
};

function resources(p: Params): string[] {
  const ids = p.list("ResourceId");
  if (ids.length === 0) throw new Ec2Error("MissingParameter", 400, "The request must contain the parameter ResourceId.1");
  return ids;
}

const createTags: Ec2Handler = (p, { services }) => {
  const ids = resources(p);
  const tags = p.tags("Tag");
  p.done();
  services.tags.create(ids, tags);
  return { return: true };
};

const deleteTags: Ec2Handler = (p, { services }) => {
  const ids = resources(p);
  const tags = p.structs("Tag").map((t) => ({ key: t.required("Key"), value: t.string("Value") }));
  p.done();
  services.tags.delete(ids, tags);
  return { return: true };
};

interface TagRow {
  resourceId: string;
  resourceType: string;
  key: string;
  value: string;
}

const tagFields: FilterFields<TagRow> = {
  key: (t) => t.key,
  value: (t) => t.value,
  "resource-id": (t) => t.resourceId,
  "resource-type": (t) => t.resourceType,
};

/** The stored tags, and the platform's os-state tag that every image shows. */
function allTags(services: Parameters<Ec2Handler>[1]["services"]): TagRow[] {
  const rows: TagRow[] = services.tags.list();
  for (const image of services.images.list({}).filter((i) => i.state !== "deregistered")) {
    for (const [key, value] of Object.entries(imageTags(image))) {
      if (!Object.hasOwn(image.tags, key)) rows.push({ resourceId: image.id, resourceType: "image", key, value });
    }
  }
  return rows;
}

const describeTags: Ec2Handler = (p, { services }) => {
  const filters = p.filters();
  for (const f of filters) {
    if (f.name.startsWith("tag")) throw invalidParameter(`The filter '${f.name.slice(0, 64)}' is invalid for DescribeTags; use key, value, resource-id, resource-type`);
  }
  const page = readPage(p, { min: 5, max: 1000 });
  p.done();
  const { page: shown, nextToken } = pageOf(applyFilters(allTags(services), filters, tagFields, () => ({})), page);
  return { tagSet: set(shown.map((t) => ({ resourceId: t.resourceId, resourceType: t.resourceType, key: t.key, value: t.value }))), nextToken };
};

export const keyAndTagActions: Record<string, Ec2Handler> = {
  CreateKeyPair: createKeyPair,
  ImportKeyPair: importKeyPair,
  DescribeKeyPairs: describeKeyPairs,
  DeleteKeyPair: deleteKeyPair,
  CreateTags: createTags,
  DeleteTags: deleteTags,
  DescribeTags: describeTags,
};

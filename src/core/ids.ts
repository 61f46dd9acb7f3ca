import { randomBytes } from "node:crypto";

// Branded ids: a string cannot be passed where another kind of id is expected.
export type InstanceId = string & { readonly __brand: "InstanceId" };
export type ImageId = string & { readonly __brand: "ImageId" };
export type VolumeId = string & { readonly __brand: "VolumeId" };
export type SnapshotId = string & { readonly __brand: "SnapshotId" };
export type OperationId = string & { readonly __brand: "OperationId" };
export type KeyPairId = string & { readonly __brand: "KeyPairId" };
export type AccessKeyId = string & { readonly __brand: "AccessKeyId" };
/** One RunInstances call: the instances it launched share it. */
export type ReservationId = string & { readonly __brand: "ReservationId" };

export const idPrefixes = {
  instance: "i",
  image: "ami",
  volume: "vol",
  snapshot: "snap",
  operation: "op",
  keyPair: "key",
  reservation: "r",
} as const;

export type IdKind = keyof typeof idPrefixes;

/** A new EC2-style id: prefix, a dash and 17 lowercase hex digits. */
export function newId<T extends string>(kind: IdKind): T {
  return `${idPrefixes[kind]}-${randomBytes(9).toString("hex").slice(0, 17)}` as T;
}

export function isId(kind: IdKind, value: string): boolean {
  return new RegExp(`^${idPrefixes[kind]}-[0-9a-f]{17}$`).test(value);
}

export const idPattern = (kind: IdKind): string => `^${idPrefixes[kind]}-[0-9a-f]{17}$`;

const base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** A new access key id in AWS's shape: AKIA and 16 characters of base32 (A-Z, 2-7), 20 in all. */
export function newAccessKeyId(): AccessKeyId {
  // 256 is a multiple of 32, so the low 5 bits of a random byte pick each character evenly.
  return `AKIA${Array.from(randomBytes(16), (b) => base32[b & 31]).join("")}` as AccessKeyId;
}

export function isAccessKeyId(value: string): value is AccessKeyId {
  return /^AKIA[A-Z2-7]{16}$/.test(value);
}

/** The kind of a well-formed id, or undefined when it is not one. */
export function idKind(value: string): IdKind | undefined {
  return (Object.keys(idPrefixes) as IdKind[]).find((kind) => isId(kind, value));
}

import { randomBytes, randomUUID } from "node:crypto";

/** A locally administered unicast MAC in QEMU's 52:54:00 range, random per instance. */
export function newMacAddress(): string {
  const tail = [...randomBytes(3)].map((b) => b.toString(16).padStart(2, "0"));
  return ["52", "54", "00", ...tail].join(":");
}

export function newSmbiosUuid(): string {
  return randomUUID();
}

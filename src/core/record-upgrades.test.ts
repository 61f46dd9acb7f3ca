import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isId, type InstanceId, type ReservationId } from "./ids.ts";
import { upgradeInstance } from "./record-upgrades.ts";
import type { Instance } from "./types.ts";

describe("record upgrades", () => {
  it("gives an instance from before reservations its own, named after it, and no client token", () => {
    const old = { id: "i-0123456789abcdef0" as InstanceId, state: "running" } as unknown as Instance;
    const now = upgradeInstance(old);
    assert.equal(now.reservationId, "r-0123456789abcdef0");
    assert.ok(isId("reservation", now.reservationId));
    assert.equal(now.clientToken, null);
  });

  it("leaves an instance that has both as it is", () => {
    const inst = { id: "i-0123456789abcdef0", reservationId: "r-00000000000000001" as ReservationId, clientToken: "t" } as unknown as Instance;
    assert.equal(upgradeInstance(inst), inst);
  });
});

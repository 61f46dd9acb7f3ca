// Records written by an earlier version lack fields added since: they are
// brought up to the current types here, as they are read back, and nowhere else.
import type { ReservationId } from "./ids.ts";
import type { Instance } from "./types.ts";

/** The reservation of an instance launched before reservations were recorded: its own, named after it. */
export function legacyReservationId(instanceId: string): ReservationId {
  return `r-${instanceId.slice(instanceId.indexOf("-") + 1)}` as ReservationId;
}

/** An instance as read back: one from before reservations gets its own, and no client token. */
export function upgradeInstance(stored: Instance): Instance {
  const { reservationId, clientToken } = stored as Partial<Instance>;
  if (reservationId !== undefined && clientToken !== undefined) return stored;
  return { ...stored, reservationId: reservationId ?? legacyReservationId(stored.id), clientToken: clientToken ?? null };
}

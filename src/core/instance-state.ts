import { conflict } from "./errors.ts";

export const instanceStates = [
  "pending",
  "running",
  "rebooting",
  "stopping",
  "stopped",
  "deallocated",
  "generalized",
  "shutting-down",
  "terminated",
] as const;
export type InstanceState = (typeof instanceStates)[number];

export const instanceActions = [
  "boot", // the VM runs (whether the guest is up is the status check)
  "stop",
  "stopped", // the VM process ended
  "start",
  "reboot",
  "deallocate",
  "generalize",
  "terminate",
  "terminated",
] as const;
export type InstanceAction = (typeof instanceActions)[number];

// The whole lifecycle in one table: from-state → action → to-state.
// Anything not listed is an illegal transition (409 INVALID_INSTANCE_STATE).
const table: Record<InstanceState, Partial<Record<InstanceAction, InstanceState>>> = {
  pending: { boot: "running", stop: "stopping", stopped: "stopped", terminate: "shutting-down" },
  running: { stop: "stopping", stopped: "stopped", reboot: "rebooting", terminate: "shutting-down" },
  rebooting: { boot: "running", stop: "stopping", stopped: "stopped", terminate: "shutting-down" },
  stopping: { stopped: "stopped", terminate: "shutting-down" },
  stopped: { start: "pending", deallocate: "deallocated", generalize: "generalized", terminate: "shutting-down" },
  deallocated: { start: "pending", generalize: "generalized", terminate: "shutting-down" },
  generalized: { terminate: "shutting-down" },
  "shutting-down": { terminated: "terminated" },
  terminated: {},
};

const explanations: Partial<Record<InstanceState, string>> = {
  generalized: "it is generalized; a generalized instance cannot be started again, launch a new one from an image",
  terminated: "it is terminated",
  "shutting-down": "it is shutting down",
};

export function nextInstanceState(from: InstanceState, action: InstanceAction): InstanceState | undefined {
  return table[from][action];
}

/** The state after `action`, or a 409 that says why the action is refused. */
export function transitionInstance(id: string, from: InstanceState, action: InstanceAction): InstanceState {
  const to = nextInstanceState(from, action);
  if (to !== undefined) return to;
  const why = explanations[from] ?? `it is ${from}`;
  throw conflict("INVALID_INSTANCE_STATE", `Cannot ${action} instance ${id}: ${why}`);
}

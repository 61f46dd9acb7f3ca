import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError } from "./errors.ts";
import { instanceActions, instanceStates, nextInstanceState, transitionInstance, type InstanceAction, type InstanceState } from "./instance-state.ts";

// The lifecycle of DESIGN.md, written out once more as the expectation.
const allowed: Record<string, InstanceState> = {
  "pending boot": "running",
  "pending stop": "stopping",
  "pending stopped": "stopped",
  "pending terminate": "shutting-down",
  "running stop": "stopping",
  "running stopped": "stopped",
  "running reboot": "rebooting",
  "running terminate": "shutting-down",
  "rebooting boot": "running",
  "rebooting stop": "stopping",
  "rebooting stopped": "stopped",
  "rebooting terminate": "shutting-down",
  "stopping stopped": "stopped",
  "stopping terminate": "shutting-down",
  "stopped start": "pending",
  "stopped deallocate": "deallocated",
  "stopped generalize": "generalized",
  "stopped terminate": "shutting-down",
  "deallocated start": "pending",
  "deallocated generalize": "generalized",
  "deallocated terminate": "shutting-down",
  "generalized terminate": "shutting-down",
  "shutting-down terminated": "terminated",
};

describe("instance state machine", () => {
  for (const from of instanceStates) {
    for (const action of instanceActions) {
      const expected = allowed[`${from} ${action}`];
      if (expected) {
        it(`allows ${action} from ${from}, giving ${expected}`, () => {
          assert.equal(transitionInstance("i-0", from, action), expected);
        });
      } else {
        it(`refuses ${action} from ${from} with a 409`, () => {
          assert.equal(nextInstanceState(from, action as InstanceAction), undefined);
          assert.throws(
            () => transitionInstance("i-0", from, action),
            (err: unknown) => err instanceof AppError && err.status === 409 && err.code === "INVALID_INSTANCE_STATE",
          );
        });
      }
    }
  }

  it("explains why a generalized instance cannot start", () => {
    assert.throws(() => transitionInstance("i-0ab", "generalized", "start"), /Cannot start instance i-0ab: it is generalized/);
  });
});

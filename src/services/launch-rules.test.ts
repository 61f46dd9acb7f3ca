import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Instance } from "../core/types.ts";
import { checkClientToken, repeatedLaunch } from "./launch-rules.ts";

const inst = (id: string, fields: Partial<Instance> = {}): Instance =>
  ({ id, imageId: "ami-0123456789abcdef0", instanceType: "is.nano", keyName: "K", clientToken: "t", ...fields }) as Instance;

describe("launch rules", () => {
  it("takes a client token of 1 to 64 printable ASCII characters, and refuses any other", () => {
    for (const ok of ["a", "x".repeat(64), "550e8400-e29b-41d4-a716-446655440000", " !~"]) checkClientToken(ok);
    for (const bad of ["", "x".repeat(65), "tab\there", "line\n", "é", "\u0000", "🦀"]) {
      assert.throws(() => checkClientToken(bad), { code: "INVALID_CLIENT_TOKEN", status: 400 }, JSON.stringify(bad));
    }
  });

  it("answers a repeated launch with the instances of the first when it asks for the same", () => {
    const earlier = [inst("i-00000000000000001"), inst("i-00000000000000002")];
    const same = { imageId: "ami-0123456789abcdef0", count: 2, instanceType: "is.nano", keyName: "K" };
    assert.equal(repeatedLaunch(earlier, "t", same), earlier);
  });

  it("refuses a repeated launch that asks for another image, count, instance type or key pair", () => {
    const earlier = [inst("i-00000000000000001")];
    const same = { imageId: "ami-0123456789abcdef0", count: 1, instanceType: "is.nano", keyName: "K" };
    for (const other of [{ imageId: "ami-0000000000000000f" }, { count: 2 }, { instanceType: "is.micro" }, { keyName: null }, { keyName: "K2" }]) {
      assert.throws(() => repeatedLaunch(earlier, "t", { ...same, ...other }), { code: "IDEMPOTENT_PARAMETER_MISMATCH", status: 409 }, JSON.stringify(other));
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { records } from "../../test/offline-services.ts";
import type { Instance } from "../core/types.ts";
import { checkClientToken, repeatedLaunch, seedFor } from "./launch-rules.ts";

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

  it("gives a generalized Windows launch a config-2 seed with its validated answer file, and no password or phone-home", () => {
    const image = records.image("ami-00000000000000001", { osType: "windows", osState: "generalized", defaultUser: "Administrator" });
    const launch = inst("i-0123456789abcdef0", { hostname: "I-456789ABCDEF0", userData: null, macAddress: "52:54:00:00:00:01", adminPassword: { mode: "random", passwordData: null, setAt: null }, windowsSettings: { timeZone: "Tokyo Standard Time" } });
    const seed = seedFor(launch, image, "ssh-rsa AAAA k", { user: "Administrator", hash: "$6$s$h" });
    assert.equal(seed?.format, "config-2");
    assert.equal(seed?.password, null, "no hash: the answer file fetches the password");
    assert.equal(seed?.phoneHomeUrl, null);
    assert.equal(seed?.keyName, "K");
    const passes = seed?.answerFile?.passes ?? [];
    const json = JSON.stringify(passes);
    assert.match(json, /"ComputerName":"I-456789ABCDEF0"/);
    assert.match(json, /"TimeZone":"Tokyo Standard Time"/);
    assert.match(json, /169\.254\.169\.254\/imagesmith.*\/admin-password/);
  });

  it("refuses a Windows launch whose computer name Windows would refuse, and gives a specialized one no answer file", () => {
    const image = records.image("ami-00000000000000001", { osType: "windows", osState: "generalized" });
    const long = inst("i-0123456789abcdef0", { hostname: "a-name-of-twenty-chars", adminPassword: { mode: "keep", passwordData: null, setAt: null } });
    assert.throws(() => seedFor(long, image, null, null), { code: "INVALID_ANSWER_FILE", status: 400 });
    const specialized = records.image("ami-00000000000000002", { osType: "windows", osState: "specialized", sourceInstanceId: "i-00000000000000009" as Instance["id"] });
    const seed = seedFor(long, specialized, null, null);
    assert.equal(seed?.format, "config-2");
    assert.equal(seed?.instanceId, "i-00000000000000009");
    assert.equal(seed?.answerFile, null);
  });
});

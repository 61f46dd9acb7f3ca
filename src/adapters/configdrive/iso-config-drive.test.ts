import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { metaData } from "./iso-config-drive.ts";

describe("NoCloud meta-data", () => {
  it("holds instance-id, local-hostname and public-keys", () => {
    const text = metaData({ instanceId: "i-1", hostname: "web-1", publicKeys: ["ssh-ed25519 AAAA k"], userData: null });
    assert.equal(text, "instance-id: i-1\nlocal-hostname: web-1\npublic-keys:\n  - ssh-ed25519 AAAA k\n");
  });

  it("leaves out the hostname when the image keeps its own (specialized)", () => {
    assert.equal(metaData({ instanceId: "i-1", hostname: null, publicKeys: [], userData: null }), "instance-id: i-1\n");
  });
});

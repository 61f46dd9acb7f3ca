import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { metaData } from "./iso-config-drive.ts";

describe("NoCloud meta-data", () => {
  it("holds instance-id, local-hostname and public-keys", () => {
    const text = metaData({ instanceId: "i-1", hostname: "web-1", publicKeys: ["ssh-ed25519 AAAA k"], userData: null, password: null });
    assert.equal(text, "instance-id: i-1\nlocal-hostname: web-1\npublic-keys:\n  - ssh-ed25519 AAAA k\n");
  });

  it("carries the admin password only as a hash", () => {
    const text = metaData({ instanceId: "i-1", hostname: null, publicKeys: [], userData: null, password: { user: "root", hash: "$6$salt$hash" } });
    assert.equal(text, "instance-id: i-1\nadmin-user: root\nadmin-password-hash: $6$salt$hash\n");
  });

  it("leaves out the hostname when the image keeps its own (specialized)", () => {
    assert.equal(metaData({ instanceId: "i-1", hostname: null, publicKeys: [], userData: null, password: null }), "instance-id: i-1\n");
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hashPassword } from "./password-hash.ts";

describe("hashPassword", () => {
  it("gives a SHA-512 crypt hash to each of 250 concurrent calls", async () => {
    const hashes = await Promise.all(Array.from({ length: 250 }, (_, n) => hashPassword(Buffer.from(`password-${n}`))));
    for (const h of hashes) assert.match(h, /^\$6\$[^$]+\$[./0-9A-Za-z]{86}$/);
    assert.equal(new Set(hashes).size, 250);
  });
});

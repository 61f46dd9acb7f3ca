import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { matchesTags, matchesWildcard } from "./filters.ts";

describe("filters", () => {
  it("matches names with * and ? and nothing else special", () => {
    assert.ok(matchesWildcard("web-*", "web-2026.11"));
    assert.ok(matchesWildcard("v?", "v1"));
    assert.ok(!matchesWildcard("v?", "v10"));
    assert.ok(!matchesWildcard("a.b", "axb"));
  });

  it("matches tags by key and value pattern", () => {
    assert.ok(matchesTags({ env: "prod", team: "a" }, { env: "prod" }));
    assert.ok(matchesTags({ env: "prod" }, { env: "*" }));
    assert.ok(!matchesTags({ env: "dev" }, { env: "prod" }));
    assert.ok(!matchesTags({}, { env: "*" }));
  });
});

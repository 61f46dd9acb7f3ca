import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { matchesTags, matchesWildcard } from "./filters.ts";

/** The obvious definition, by recursion: the reference the fast matcher must agree with. */
function reference(p: string, v: string): boolean {
  if (p === "") return v === "";
  if (p[0] === "*") return reference(p.slice(1), v) || (v !== "" && reference(p, v.slice(1)));
  return v !== "" && (p[0] === "?" || p[0] === v[0]) && reference(p.slice(1), v.slice(1));
}

describe("filters", () => {
  it("matches names with * and ? and nothing else special", () => {
    assert.ok(matchesWildcard("web-*", "web-2026.11"));
    assert.ok(matchesWildcard("v?", "v1"));
    assert.ok(!matchesWildcard("v?", "v10"));
    assert.ok(!matchesWildcard("a.b", "axb"));
    assert.ok(matchesWildcard("(a)[b]+$^", "(a)[b]+$^"));
    assert.ok(!matchesWildcard("Web-*", "web-1"), "case-sensitive");
  });

  it("agrees with the recursive definition on every short pattern and value", () => {
    const alphabet = ["a", "b", "*", "?"];
    const words = (n: number, letters: string[]): string[] => (n === 0 ? [""] : words(n - 1, letters).flatMap((w) => letters.map((l) => w + l)).concat(words(n - 1, letters)));
    const patterns = [...new Set(words(4, alphabet))];
    const values = [...new Set(words(5, ["a", "b"]))];
    for (const p of patterns) for (const v of values) assert.equal(matchesWildcard(p, v), reference(p, v), `${p} ~ ${v}`);
  });

  // A backtracking matcher does not finish this within the test's time limit.
  it("answers a pathological pattern against a long value without backtracking", { timeout: 10_000 }, () => {
    const value = "a".repeat(100_000);
    assert.equal(matchesWildcard(`${"*a".repeat(120)}*b`, value), false);
    assert.equal(matchesWildcard(`${"*a?".repeat(80)}*`, value), true);
  });

  it("matches tags by key and value pattern", () => {
    assert.ok(matchesTags({ env: "prod", team: "a" }, { env: "prod" }));
    assert.ok(matchesTags({ env: "prod" }, { env: "*" }));
    assert.ok(!matchesTags({ env: "dev" }, { env: "prod" }));
    assert.ok(!matchesTags({}, { env: "*" }));
    assert.ok(!matchesTags({}, { constructor: "*" }), "inherited properties are not tags");
  });
});

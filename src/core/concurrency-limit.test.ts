import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { concurrencyLimit } from "./concurrency-limit.ts";

describe("concurrencyLimit", () => {
  it("runs at most the limit at once and every job in the end", async () => {
    const limit = concurrencyLimit(2);
    let running = 0;
    let most = 0;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, n) =>
        limit(async () => {
          most = Math.max(most, ++running);
          await new Promise((r) => setTimeout(r, 5));
          running--;
          return n;
        }),
      ),
    );
    assert.deepEqual(results, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(most, 2);
  });

  it("frees its place when a job fails", async () => {
    const limit = concurrencyLimit(1);
    await assert.rejects(limit(() => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(await limit(() => Promise.resolve("next")), "next");
  });
});

// The contract every ChunkStore adapter passes (restic's backend/test/suite.go).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { sha256 } from "../../core/manifest.ts";
import { ChunkCorruptError, ChunkMissingError, type ChunkStore } from "../../core/ports.ts";

export interface ContractHooks {
  make(): Promise<ChunkStore>;
  /** Flips one byte of the stored form of a chunk. */
  corrupt(store: ChunkStore, hash: string): Promise<void>;
}

export function chunkStoreContract(name: string, hooks: ContractHooks): void {
  describe(`${name} chunk store contract`, () => {
    const chunk = (fill?: number) => (fill === undefined ? randomBytes(64 * 1024) : Buffer.alloc(64 * 1024, fill));

    it("returns what was put, by its hash", async () => {
      const s = await hooks.make();
      const data = chunk();
      const h = sha256(data);
      assert.ok((await s.put(h, data)) > 0);
      assert.ok(await s.has(h));
      assert.deepEqual(await s.get(h), data);
    });

    it("stores identical content once", async () => {
      const s = await hooks.make();
      const data = chunk();
      const h = sha256(data);
      await s.put(h, data);
      assert.equal(await s.put(h, data), 0);
      const listed: string[] = [];
      for await (const x of s.list()) listed.push(x);
      assert.deepEqual(listed, [h]);
    });

    it("lists, deletes and reports usage", async () => {
      const s = await hooks.make();
      const a = chunk(1);
      const b = chunk(2);
      await s.put(sha256(a), a);
      await s.put(sha256(b), b);
      assert.ok((await s.usage()) > 0);
      await s.delete(sha256(a));
      assert.equal(await s.has(sha256(a)), false);
      const listed: string[] = [];
      for await (const x of s.list()) listed.push(x);
      assert.deepEqual(listed, [sha256(b)]);
      await s.flush();
    });

    it("fails loudly on a missing chunk", async () => {
      const s = await hooks.make();
      await assert.rejects(s.get(sha256(chunk())), ChunkMissingError);
    });

    it("fails loudly on a corrupt chunk, naming it", async () => {
      const s = await hooks.make();
      const data = chunk();
      const h = sha256(data);
      await s.put(h, data);
      await hooks.corrupt(s, h);
      await assert.rejects(s.get(h), (err: unknown) => err instanceof ChunkCorruptError && err.hash === h);
    });
  });
}

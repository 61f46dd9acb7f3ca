import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { writeSparse } from "./sparse-write.ts";

describe("writeSparse()", () => {
  it("writes what it receives byte for byte, with zero blocks left as holes", async () => {
    const data = Buffer.concat([randomBytes(100_000), Buffer.alloc(4 << 20), randomBytes(70_001)]);
    // Arrives in odd-sized pieces, as a request body does.
    const pieces: Buffer[] = [];
    for (let off = 0; off < data.length; off += 12_345) pieces.push(data.subarray(off, off + 12_345));
    const file = join(await mkdtemp(join(tmpdir(), "imagesmith-sparse-")), "up");
    assert.equal(await writeSparse(Readable.from(pieces), file, 1 << 30), data.length);
    assert.deepEqual(await readFile(file), data);
    assert.ok((await stat(file)).blocks * 512 < data.length - (3 << 20), "the zero run takes no space");
  });

  it("refuses a body over the limit", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "imagesmith-sparse-")), "up");
    await assert.rejects(writeSparse(Readable.from([Buffer.alloc(10)]), file, 5), /exceeds 5 bytes/);
  });
});

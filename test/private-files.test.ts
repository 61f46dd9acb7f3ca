import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { removeDir, startTestDaemon, tinyGuest, type TestDaemon } from "./helpers.ts";

/** Every entry below dir whose mode gives anything to group or others. */
async function exposed(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isSymbolicLink() || entry.isSocket()) continue;
    if ((await stat(path)).mode & 0o077) found.push(path);
  }
  return found;
}

describe("the data dir is private", { timeout: 300_000 }, () => {
  let dir: string;
  let t: TestDaemon;

  before(async () => {
    // A data dir as an older version, or a hand-made one, left it: world-readable.
    dir = await mkdtemp(join(tmpdir(), "imagesmith-private-"));
    await chmod(dir, 0o755);
    await mkdir(join(dir, "exports"), { mode: 0o755 });
    await writeFile(join(dir, "exports", "old.raw"), "x", { mode: 0o644 });
    await chmod(join(dir, "exports"), 0o755);
    await chmod(join(dir, "exports", "old.raw"), 0o644);
    t = await startTestDaemon(dir);
  });

  after(async () => {
    await t.close();
    await removeDir(dir);
  });

  it("tightens an existing data dir to 0700 and what is inside to owner-only at start", async () => {
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, "exports"))).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, "exports", "old.raw"))).mode & 0o777, 0o600);
  });

  it("makes everything it writes owner-only: catalog, token, uploads, chunks, manifests, cache, volumes, exports", async () => {
    const { image, operation } = await t.client.importImage(await tinyGuest(), { name: "tiny", osType: "linux" });
    assert.equal((await t.client.waitOperation(operation.id)).state, "succeeded");
    await t.client.createVolume({ snapshotId: image.blockDeviceMappings[0]?.snapshotId ?? "" });
    await t.client.createKeyPair("K");
    const exp = await t.client.waitOperation((await t.client.exportImage(image.id, "qcow2")).id);
    assert.equal(exp.state, "succeeded");
    for (const sub of ["store", "cache", "volumes", "exports"]) assert.ok((await readdir(join(dir, sub))).length > 0, `${sub} has files`);
    assert.deepEqual(await exposed(dir), []);
  });
});

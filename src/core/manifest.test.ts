import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { chunkSize, decodeManifest, encodeManifest, extentsFromChunks, extentsFromDense, presentChunks, presentCount, type Manifest } from "./manifest.ts";

const h = (n: number) => createHash("sha256").update(String(n)).digest("hex");
const TiB = 1024 ** 4;

function v1(body: object): Buffer {
  const text = JSON.stringify(body);
  return Buffer.from(`IMAGESMITH-MANIFEST 1 ${createHash("sha256").update(text).digest("hex")}\n${text}`);
}

describe("manifests", () => {
  it("encodeManifest() writes version 2 with extents, and decodeManifest() reads it back", () => {
    const m: Manifest = { snapshotId: "snap-1", parentId: null, volumeSize: 16 * TiB, chunkSize, extents: [{ start: 0, hashes: [h(1), h(2)] }, { start: 1000, hashes: [h(3)] }] };
    const data = encodeManifest(m);
    assert.match(data.toString().split("\n")[0] ?? "", /^IMAGESMITH-MANIFEST 2 [0-9a-f]{64}$/);
    assert.deepEqual(decodeManifest(data, "snap-1"), m);
    assert.ok(data.length < 4096);
  });

  it("reads a version 1 manifest (a dense array) as extents", () => {
    const m = decodeManifest(v1({ snapshotId: "snap-1", parentId: "snap-0", volumeSize: 6 * chunkSize, chunkSize, chunks: [null, h(1), h(2), null, null, h(3)] }), "snap-1");
    assert.deepEqual(m, { snapshotId: "snap-1", parentId: "snap-0", volumeSize: 6 * chunkSize, chunkSize, extents: [{ start: 1, hashes: [h(1), h(2)] }, { start: 5, hashes: [h(3)] }] });
  });

  it("refuses a bad checksum, an unknown version and extents out of order or past the disk", () => {
    const good = encodeManifest({ snapshotId: "s", parentId: null, volumeSize: chunkSize * 4, chunkSize, extents: [{ start: 3, hashes: [h(1)] }] });
    const tampered = Buffer.from(good.toString().replace('"start":3', '"start":2'));
    assert.throws(() => decodeManifest(tampered, "s"), /checksum mismatch/);
    assert.throws(() => decodeManifest(Buffer.from(good.toString().replace(" 2 ", " 3 ")), "s"), /unsupported version 3/);
    const body = (extents: unknown) => {
      const text = JSON.stringify({ snapshotId: "s", parentId: null, volumeSize: chunkSize * 4, chunkSize, extents });
      return Buffer.from(`IMAGESMITH-MANIFEST 2 ${createHash("sha256").update(text).digest("hex")}\n${text}`);
    };
    assert.throws(() => decodeManifest(body([{ start: 2, hashes: [h(1)] }, { start: 1, hashes: [h(2)] }]), "s"), /out of order/);
    assert.throws(() => decodeManifest(body([{ start: 3, hashes: [h(1), h(2)] }]), "s"), /past the disk/);
  });

  it("builds runs from sparse chunks in any order, joining neighbours only", () => {
    const chunks = new Map([[7, h(7)], [2, h(2)], [3, h(3)], [9, h(9)], [8, h(8)]]);
    const extents = extentsFromChunks(chunks);
    assert.deepEqual(extents, [{ start: 2, hashes: [h(2), h(3)] }, { start: 7, hashes: [h(7), h(8), h(9)] }]);
    assert.deepEqual([...presentChunks({ extents })].map(([i]) => i), [2, 3, 7, 8, 9]);
    assert.equal(presentCount({ extents }), 5);
    assert.deepEqual(extentsFromDense([null, null]), []);
  });

  it("an empty 16 TiB volume's manifest is a few hundred bytes", () => {
    const data = encodeManifest({ snapshotId: "snap-1", parentId: null, volumeSize: 16 * TiB, chunkSize, extents: [] });
    assert.ok(data.length < 400);
    assert.deepEqual(decodeManifest(data, "snap-1").extents, []);
  });
});

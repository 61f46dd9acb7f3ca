import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { InstanceId, SnapshotId } from "../core/ids.ts";
import { offlineServices, records } from "../../test/offline-services.ts";

const root = "snap-0000000000000000a";
const data = "snap-0000000000000000b";
const source = "ami-0000000000000000c";

describe("Volumes.create with a client token", () => {
  it("replays the first volume, and refuses the token for another size", async () => {
    const t = await offlineServices();
    try {
      const first = await t.services.volumes.create({ sizeGiB: 1, clientToken: "vol-tok" });
      const again = await t.services.volumes.create({ sizeGiB: 1, clientToken: "vol-tok" });
      assert.equal(again.id, first.id);
      assert.equal(t.services.volumes.list({}).length, 1);
      await assert.rejects(t.services.volumes.create({ sizeGiB: 2, clientToken: "vol-tok" }), (e: Error & { code?: string }) => e.code === "IDEMPOTENT_PARAMETER_MISMATCH");
    } finally {
      await t.close();
    }
  });
});

describe("Images.copy", () => {
  let t: Awaited<ReturnType<typeof offlineServices>>;

  beforeEach(async () => {
    t = await offlineServices();
    for (const s of [root, data]) t.catalog.snapshots.insert(records.snapshot(s));
    t.catalog.images.insert(
      records.image(source, {
        name: "golden",
        description: "the golden one",
        osState: "specialized",
        defaultUser: "debian",
        sourceInstanceId: "i-0000000000000000d" as InstanceId,
        sourceMacAddress: "52:54:00:12:34:56",
        consistency: "fs-frozen",
        blockDeviceMappings: [
          { deviceName: "/dev/vda", snapshotId: root as SnapshotId, volumeSize: 1 << 20, deleteOnTermination: true },
          { deviceName: "/dev/vdb", snapshotId: data as SnapshotId, volumeSize: 1 << 20, deleteOnTermination: false },
        ],
        tags: { team: "a", env: "prod" },
      }),
    );
  });
  afterEach(() => t.close());

  it("replays a copy repeated with its client token, and refuses the token for another copy", () => {
    const first = t.services.images.copy(source, { name: "golden-copy", clientToken: "tok-1" });
    const again = t.services.images.copy(source, { name: "golden-copy", clientToken: "tok-1" });
    assert.equal(again.id, first.id);
    assert.equal(t.services.images.list({}).filter((i) => i.name === "golden-copy").length, 1);
    assert.throws(() => t.services.images.copy(source, { name: "other", clientToken: "tok-1" }), (e: Error & { code?: string }) => e.code === "IDEMPOTENT_PARAMETER_MISMATCH");
  });

  it("makes a new available image on the same snapshots, with the source's metadata under a new name", () => {
    const copy = t.services.images.copy(source, { name: "golden-copy", tags: { env: "test" } });
    const src = t.services.images.get(source);
    assert.notEqual(copy.id, source);
    assert.equal(copy.state, "available");
    assert.deepEqual(t.services.images.get(copy.id), copy, "recorded as returned");
    // The client token is the copy call's own, not the source's metadata.
    const { id: _a, name: _b, tags, createdAt: _c, clientToken: _h, ...rest } = copy;
    const { id: _d, name: _e, tags: _f, createdAt: _g, ...expected } = src;
    assert.deepEqual(rest, expected, "mappings, osState, default user, source instance and MAC, consistency kept");
    assert.deepEqual(tags, { env: "test" }, "the source's tags only when asked");
    assert.deepEqual(t.services.images.copy(source, { name: "with-tags", description: "mine", copyTags: true, tags: { env: "test" } }).tags, { team: "a", env: "test" });
    assert.equal(t.services.images.get(t.services.images.list({ name: "with-tags" })[0]?.id ?? "").description, "mine");
  });

  it("refuses a name in use, a source that is not available, and reserved tags, writing nothing", () => {
    t.catalog.images.insert(records.image("ami-0000000000000000e", { name: "busy", state: "pending" }));
    t.catalog.images.insert(records.image("ami-0000000000000000f", { name: "gone", state: "deregistered" }));
    assert.throws(() => t.services.images.copy(source, { name: "golden" }), { code: "IMAGE_NAME_EXISTS", status: 409 });
    assert.throws(() => t.services.images.copy("ami-0000000000000000e", { name: "x" }), { code: "IMAGE_NOT_AVAILABLE", message: /Cannot copy image .*: it is still pending/ });
    assert.throws(() => t.services.images.copy("ami-0000000000000000f", { name: "x" }), { code: "IMAGE_NOT_AVAILABLE", message: /it is deregistered/ });
    assert.throws(() => t.services.images.copy("ami-00000000000000001", { name: "x" }), { code: "IMAGE_NOT_FOUND", status: 404 });
    assert.throws(() => t.services.images.copy(source, { name: "x", tags: { "imagesmith:x": "v" } }), { code: "RESERVED_TAG_KEY" });
    assert.equal(t.catalog.images.list().length, 3);
  });

  it("keeps the snapshots the other image uses when one of the two is deregistered with its snapshots", async () => {
    const copy = t.services.images.copy(source, { name: "golden-copy" });
    const first = await t.services.images.deregister(copy.id, true);
    assert.deepEqual(first.deletedSnapshots, []);
    assert.deepEqual(first.keptSnapshots.map((k) => [k.id, k.reason]), [
      [root, `Cannot delete snapshot ${root}: image ${source} uses it`],
      [data, `Cannot delete snapshot ${data}: image ${source} uses it`],
    ]);
    assert.equal(t.services.images.launchable(source).id, source, "the source still launches");
    const second = await t.services.images.deregister(source, true);
    assert.deepEqual(second.deletedSnapshots, [root, data], "with nothing else using them, they go with the last image");
  });
});

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { offlineServices, records } from "../../test/offline-services.ts";

const ami = "ami-0000000000000000a";
const inst = "i-0000000000000000b";
const vol = "vol-0000000000000000c";
const snap = "snap-0000000000000000d";

describe("TagService", () => {
  let t: Awaited<ReturnType<typeof offlineServices>>;
  const tagsOf = (id: string) => t.services.tags.list().filter((x) => x.resourceId === id).map((x) => [x.key, x.value]);

  beforeEach(async () => {
    t = await offlineServices();
    t.catalog.snapshots.insert(records.snapshot(snap));
    t.catalog.images.insert(records.image(ami, { tags: { keep: "me" } }));
    t.catalog.instances.insert(records.instance(inst));
    t.catalog.volumes.insert(records.volume(vol));
  });
  afterEach(() => t.close());

  it("tags an image, an instance, a volume and a snapshot at once, and lists them with their types", () => {
    t.services.tags.create([ami, inst, vol, snap, ami], { env: "prod" });
    assert.deepEqual(
      t.services.tags.list().map((x) => [x.resourceType, x.resourceId, x.key, x.value]),
      [
        ["image", ami, "keep", "me"],
        ["image", ami, "env", "prod"],
        ["instance", inst, "env", "prod"],
        ["volume", vol, "env", "prod"],
        ["snapshot", snap, "env", "prod"],
      ],
    );
    assert.deepEqual(t.services.images.get(ami).tags, { keep: "me", env: "prod" }, "the resource itself carries them");
    t.services.tags.create([ami], { env: "dev" });
    assert.deepEqual(tagsOf(ami), [["keep", "me"], ["env", "dev"]], "a key given again takes the new value");
  });

  it("writes nothing when one resource is refused: malformed, missing, deregistered or terminated", () => {
    t.catalog.images.insert(records.image("ami-0000000000000000e", { state: "deregistered" }));
    t.catalog.instances.insert(records.instance("i-0000000000000000f", { state: "terminated" }));
    const cases: [string, string, number][] = [
      ["op-00000000000000001", "INVALID_RESOURCE_ID", 400],
      ["ami-00000000000000001", "IMAGE_NOT_FOUND", 404],
      ["i-00000000000000001", "INSTANCE_NOT_FOUND", 404],
      ["vol-00000000000000001", "VOLUME_NOT_FOUND", 404],
      ["snap-00000000000000001", "SNAPSHOT_NOT_FOUND", 404],
      ["ami-0000000000000000e", "IMAGE_DEREGISTERED", 409],
      ["i-0000000000000000f", "INVALID_INSTANCE_STATE", 409],
    ];
    for (const [bad, code, status] of cases) {
      assert.throws(() => t.services.tags.create([ami, inst, bad], { env: "x" }), { code, status }, bad);
      assert.throws(() => t.services.tags.delete([ami, inst, bad], []), { code, status }, bad);
    }
    assert.deepEqual(tagsOf(ami), [["keep", "me"]]);
    assert.deepEqual(tagsOf(inst), []);
    assert.ok(!t.services.tags.list().some((x) => x.resourceId.endsWith("f") || x.resourceId.endsWith("e")), "deregistered and terminated list none");
  });

  it("refuses a change that takes one resource past 50 tags, on every resource", () => {
    const fifty = Object.fromEntries(Array.from({ length: 49 }, (_, i) => [`k${i}`, "v"]));
    t.services.tags.create([ami], fifty); // with keep: 50
    assert.throws(() => t.services.tags.create([inst, ami], { one: "more" }), { code: "TAG_LIMIT_EXCEEDED", status: 400, message: new RegExp(`${ami} would have 51 tags`) });
    assert.deepEqual(tagsOf(inst), [], "the instance, checked first, was not tagged either");
    t.services.tags.create([ami], { k0: "again" }); // an existing key: still 50
  });

  it("refuses reserved and malformed keys, on create and on delete", () => {
    assert.throws(() => t.services.tags.create([ami], { "aws:x": "v" }), { code: "RESERVED_TAG_KEY" });
    assert.throws(() => t.services.tags.create([ami], { "imagesmith:x": "v" }), { code: "RESERVED_TAG_KEY" });
    assert.throws(() => t.services.tags.create([ami], { ["k".repeat(129)]: "v" }), { code: "INVALID_TAG" });
    assert.throws(() => t.services.tags.delete([ami], [{ key: "aws:x" }]), { code: "RESERVED_TAG_KEY" });
  });

  it("deletes as EC2: by key and value, by key alone, or every user tag", () => {
    t.services.tags.create([ami, vol], { env: "prod", team: "a", x: "" });
    t.services.tags.delete([ami, vol], [{ key: "env", value: "dev" }, { key: "team" }]);
    assert.deepEqual(tagsOf(ami), [["keep", "me"], ["env", "prod"], ["x", ""]]);
    t.services.tags.delete([vol], [{ key: "env", value: "prod" }, { key: "x", value: "" }]);
    assert.deepEqual(tagsOf(vol), []);
    t.services.tags.delete([ami], []);
    assert.deepEqual(tagsOf(ami), []);
  });

  it("holds every way tags come in to the same rules: images, instances, volumes", async () => {
    const reserved = { "aws:x": "v" };
    assert.throws(() => t.services.images.register({ name: "r", snapshotId: snap, osType: "linux", osState: "generalized", tags: reserved }), { code: "RESERVED_TAG_KEY" });
    await assert.rejects(t.services.instances.run({ imageId: ami, count: 1, tags: reserved }), { code: "RESERVED_TAG_KEY" });
    await assert.rejects(t.services.volumes.create({ sizeGiB: 1, tags: reserved }), { code: "RESERVED_TAG_KEY" });
    assert.throws(() => t.services.volumes.snapshot(vol, { tags: { ["k".repeat(129)]: "v" } }), { code: "INVALID_TAG" });
    assert.deepEqual([t.catalog.images.list().length, t.catalog.instances.list().length, t.catalog.volumes.list().length, t.catalog.snapshots.list().length], [1, 1, 1, 1], "nothing was written");
  });
});

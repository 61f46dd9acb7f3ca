import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import type { AccessKeyId, OperationId } from "../../core/ids.ts";
import type { Operation } from "../../core/types.ts";
import { migrations } from "./migrations.ts";
import { SqliteCatalog } from "./sqlite-catalog.ts";

const op = (state: Operation["state"], message = ""): Operation => ({
  id: "op-00000000000000001" as OperationId,
  kind: "test",
  state,
  progress: 0,
  message,
  targetId: null,
  error: null,
  result: null,
  createdAt: "",
  updatedAt: "",
});

describe("SqliteCatalog", () => {
  it("migrates a new file to the last version, and opening it again changes nothing", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "imagesmith-catalog-")), "catalog.db");
    const a = new SqliteCatalog(file);
    assert.equal(a.schemaVersion, migrations[migrations.length - 1]?.version);
    a.operations.insert(op("running"));
    a.close();
    const b = new SqliteCatalog(file);
    assert.equal(b.operations.get("op-00000000000000001")?.state, "running");
    b.close();
  });

  it("records an event when a resource appears and each time its state changes, and only then", async () => {
    const c = new SqliteCatalog(join(await mkdtemp(join(tmpdir(), "imagesmith-catalog-")), "catalog.db"));
    c.operations.insert(op("running"));
    c.operations.update(op("running", "50 %"));
    c.operations.update(op("succeeded"));
    const events = c.events({ afterSeq: 0, limit: 10 });
    assert.deepEqual(events.map((e) => [e.resourceId, e.fromState, e.toState]), [
      ["op-00000000000000001", null, "running"],
      ["op-00000000000000001", "running", "succeeded"],
    ]);
    assert.deepEqual(c.events({ afterSeq: events[0]?.seq ?? 0, limit: 10 }).length, 1);
    assert.deepEqual(c.events({ afterSeq: 0, resourceId: "op-other", limit: 10 }), []);
    c.close();
  });

  it("refuses an update of a row that does not exist", async () => {
    const c = new SqliteCatalog(join(await mkdtemp(join(tmpdir(), "imagesmith-catalog-")), "catalog.db"));
    assert.throws(() => c.operations.update(op("running")), /no row op-00000000000000001/);
    c.close();
  });

  it("keeps access keys in their own table, and records no event for them (they have no state)", async () => {
    const c = new SqliteCatalog(join(await mkdtemp(join(tmpdir(), "imagesmith-catalog-")), "catalog.db"));
    const key = { id: "AKIAAAAAAAAAAAAAAAAA" as AccessKeyId, sealedSecret: "v1:a:b:c", createdAt: "2024-01-01T00:00:00.000Z", lastUsedAt: null };
    c.accessKeys.insert(key);
    c.accessKeys.update({ ...key, lastUsedAt: "2024-01-02T00:00:00.000Z" });
    assert.deepEqual(c.accessKeys.list(), [{ ...key, lastUsedAt: "2024-01-02T00:00:00.000Z" }]);
    assert.deepEqual(c.events({ afterSeq: 0, limit: 10 }), []);
    c.accessKeys.delete(key.id);
    assert.equal(c.accessKeys.get(key.id), undefined);
    c.close();
  });

  it("reads an instance written before reservations with one of its own and no client token", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "imagesmith-catalog-")), "catalog.db");
    new SqliteCatalog(file).close();
    const raw = new Database(file);
    raw.prepare("INSERT INTO instances (id, data) VALUES (?, ?)").run("i-0123456789abcdef0", JSON.stringify({ id: "i-0123456789abcdef0", state: "stopped" }));
    raw.close();
    const c = new SqliteCatalog(file);
    const got = c.instances.get("i-0123456789abcdef0");
    assert.deepEqual([got?.reservationId, got?.clientToken], ["r-0123456789abcdef0", null]);
    assert.deepEqual(c.instances.list().map((i) => i.reservationId), ["r-0123456789abcdef0"]);
    c.close();
  });
});

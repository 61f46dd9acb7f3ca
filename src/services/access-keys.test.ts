import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { SqliteCatalog } from "../adapters/catalog/sqlite-catalog.ts";
import { FileSecretBox } from "../adapters/crypto/secret-box.ts";
import { AppError } from "../core/errors.ts";
import { AccessKeys, maxAccessKeys } from "./access-keys.ts";

const appError = (status: number, code: string) => (err: unknown) => err instanceof AppError && err.status === status && err.code === code;

describe("AccessKeys", () => {
  let catalog: SqliteCatalog;
  let keys: AccessKeys;

  beforeEach(async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagesmith-access-keys-"));
    catalog = new SqliteCatalog(join(dir, "catalog.db"));
    keys = new AccessKeys(catalog, await FileSecretBox.open(dir));
  });
  afterEach(() => catalog.close());

  it("create() returns an AKIA id and a 40-character secret, and stores the secret only sealed", () => {
    const { accessKey, secretAccessKey } = keys.create();
    assert.match(accessKey.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
    assert.match(secretAccessKey, /^[A-Za-z0-9+/]{40}$/);
    assert.equal(accessKey.lastUsedAt, null);
    const stored = catalog.accessKeys.get(accessKey.accessKeyId);
    assert.ok(stored && !JSON.stringify(stored).includes(secretAccessKey));
    assert.equal(keys.secretFor(accessKey.accessKeyId), secretAccessKey);
  });

  it("list() shows ids and times, never a secret, sealed or not", () => {
    const { accessKey } = keys.create();
    assert.deepEqual(keys.list(), [accessKey]);
    assert.deepEqual(Object.keys(keys.list()[0] ?? {}).sort(), ["accessKeyId", "createdAt", "lastUsedAt"]);
  });

  it("secretFor() is undefined for an unknown or malformed id", () => {
    keys.create();
    assert.equal(keys.secretFor("AKIAAAAAAAAAAAAAAAAA"), undefined);
    assert.equal(keys.secretFor("not-a-key"), undefined);
    assert.equal(keys.secretFor(""), undefined);
  });

  it("delete() removes a key; an unknown id is 404 ACCESS_KEY_NOT_FOUND and a malformed one 400 INVALID_ACCESS_KEY_ID", () => {
    const { accessKey } = keys.create();
    keys.delete(accessKey.accessKeyId);
    assert.deepEqual(keys.list(), []);
    assert.equal(keys.secretFor(accessKey.accessKeyId), undefined);
    assert.throws(() => keys.delete(accessKey.accessKeyId), appError(404, "ACCESS_KEY_NOT_FOUND"));
    assert.throws(() => keys.delete("akia-nope"), appError(400, "INVALID_ACCESS_KEY_ID"));
  });

  it(`create() refuses a key past ${maxAccessKeys} with 409 ACCESS_KEY_LIMIT, and makes room again after a delete`, () => {
    const made = Array.from({ length: maxAccessKeys }, () => keys.create().accessKey.accessKeyId);
    assert.equal(new Set(made).size, maxAccessKeys);
    assert.throws(() => keys.create(), appError(409, "ACCESS_KEY_LIMIT"));
    assert.equal(keys.list().length, maxAccessKeys);
    keys.delete(made[0] ?? "");
    assert.match(keys.create().accessKey.accessKeyId, /^AKIA/);
  });

  it("markUsed() writes lastUsedAt at most once a minute, and again when the clock went back", () => {
    const id = keys.create().accessKey.accessKeyId;
    const lastUsed = () => keys.list()[0]?.lastUsedAt;
    const t0 = new Date("2030-01-01T00:00:00.000Z");
    const at = (ms: number) => new Date(t0.getTime() + ms);
    keys.markUsed(id, t0);
    assert.equal(lastUsed(), t0.toISOString());
    keys.markUsed(id, at(59_999));
    assert.equal(lastUsed(), t0.toISOString());
    keys.markUsed(id, at(60_000));
    assert.equal(lastUsed(), at(60_000).toISOString());
    keys.markUsed(id, at(-3_600_000));
    assert.equal(lastUsed(), at(-3_600_000).toISOString());
    keys.markUsed("AKIAAAAAAAAAAAAAAAAA", t0);
    keys.markUsed("malformed", t0);
    assert.equal(keys.list().length, 1);
  });
});

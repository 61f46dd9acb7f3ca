import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { idKind, idPrefixes, isAccessKeyId, isId, newAccessKeyId, newId, type IdKind } from "./ids.ts";

describe("ids", () => {
  for (const kind of Object.keys(idPrefixes) as IdKind[]) {
    it(`newId(${kind}) is the EC2 form: ${idPrefixes[kind]}- and 17 hex digits`, () => {
      const id = newId(kind);
      assert.match(id, new RegExp(`^${idPrefixes[kind]}-[0-9a-f]{17}$`));
      assert.ok(isId(kind, id));
    });
  }

  it("isId() refuses other kinds, wrong lengths and upper case", () => {
    assert.equal(isId("image", newId("instance")), false);
    assert.equal(isId("instance", "i-0123"), false);
    assert.equal(isId("instance", "i-0123456789ABCDEF0"), false);
  });

  it("idKind() names the kind of a well-formed id, and nothing else", () => {
    for (const kind of Object.keys(idPrefixes) as IdKind[]) assert.equal(idKind(newId(kind)), kind);
    for (const bad of ["", "i-", "i-0123", "ami-0123456789ABCDEF0", "x-0123456789abcdef0", " i-0123456789abcdef0", "r-0123456789abcdef01"]) assert.equal(idKind(bad), undefined, bad);
  });

  it("newId() does not repeat", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId("instance")));
    assert.equal(ids.size, 1000);
  });

  it("newAccessKeyId() is AWS's form: AKIA and 16 base32 characters, and does not repeat", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newAccessKeyId()));
    assert.equal(ids.size, 1000);
    for (const id of ids) {
      assert.match(id, /^AKIA[A-Z2-7]{16}$/);
      assert.ok(isAccessKeyId(id));
    }
    // Every base32 character turns up: the alphabet is used whole.
    assert.equal(new Set([...ids].flatMap((id) => [...id.slice(4)])).size, 32);
  });

  it("isAccessKeyId() refuses other prefixes, lengths, lower case and non-base32 digits", () => {
    for (const bad of ["ASIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNO", "AKIAABCDEFGHIJKLMNOPQ", "akiaabcdefghijklmnop", "AKIAABCDEFGHIJKLMN01", "AKIAABCDEFGHIJKLMN8 "]) {
      assert.equal(isAccessKeyId(bad), false, bad);
    }
  });
});

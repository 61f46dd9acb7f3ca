import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkTags, checkTagSelectors, userTags, withoutTags, withTags } from "./tag-rules.ts";

const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));

describe("tag rules", () => {
  it("takes keys of 1 to 128 characters, values of up to 256, and 50 tags at most", () => {
    checkTags({ ["k".repeat(128)]: "v".repeat(256), e: "" });
    checkTags(many(50));
    assert.throws(() => checkTags({ "": "v" }), { code: "INVALID_TAG", status: 400 });
    assert.throws(() => checkTags({ ["k".repeat(129)]: "v" }), { code: "INVALID_TAG" });
    assert.throws(() => checkTags({ k: "v".repeat(257) }), { code: "INVALID_TAG" });
    assert.throws(() => checkTags(many(51)), { code: "TAG_LIMIT_EXCEEDED", status: 400 });
  });

  it("refuses the keys of the platform and of AWS, whatever their case", () => {
    for (const key of ["aws:cloudformation:stack-name", "AWS:x", "imagesmith:owner", "ImageSmith:x"]) {
      assert.throws(() => checkTags({ [key]: "v" }), { code: "RESERVED_TAG_KEY", status: 400 }, key);
      assert.throws(() => checkTagSelectors([{ key }]), { code: "RESERVED_TAG_KEY" }, key);
    }
    checkTags({ aws: "v", "my-aws:x": "v", imagesmith: "v" });
  });

  it("sets tags over the ones there, a key given again taking the new value", () => {
    assert.deepEqual(withTags({ a: "1", b: "2" }, { b: "3", c: "4" }), { a: "1", b: "3", c: "4" });
  });

  it("keeps a key named __proto__ a tag, never the object's prototype", () => {
    const tags = withTags({}, JSON.parse('{"__proto__": "x", "constructor": "y"}') as Record<string, string>);
    assert.deepEqual(Object.keys(tags), ["__proto__", "constructor"]);
    assert.equal(Object.getPrototypeOf(tags), Object.prototype);
    assert.deepEqual(Object.keys(withoutTags(tags, [{ key: "__proto__" }])), ["constructor"]);
  });

  it("removes as EC2 DeleteTags: with a value only that value, without one any, with none named every user tag", () => {
    const tags = { env: "prod", team: "a", empty: "", "imagesmith:owner": "platform" };
    assert.deepEqual(withoutTags(tags, [{ key: "env", value: "dev" }]), tags, "another value: kept");
    assert.deepEqual(withoutTags(tags, [{ key: "env", value: "prod" }]), { team: "a", empty: "", "imagesmith:owner": "platform" });
    assert.deepEqual(withoutTags(tags, [{ key: "team" }, { key: "missing" }]), { env: "prod", empty: "", "imagesmith:owner": "platform" });
    assert.deepEqual(withoutTags(tags, [{ key: "empty", value: "" }]), { env: "prod", team: "a", "imagesmith:owner": "platform" }, "an empty value matches only an empty value");
    assert.deepEqual(withoutTags(tags, [{ key: "env", value: "" }]), tags);
    assert.deepEqual(withoutTags(tags, []), { "imagesmith:owner": "platform" }, "the platform's tags are not the user's to remove");
  });

  it("copies only the user's tags", () => {
    assert.deepEqual(userTags({ a: "1", "aws:x": "2", "imagesmith:y": "3" }), { a: "1" });
  });
});

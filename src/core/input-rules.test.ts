import assert from "node:assert/strict";
import { test } from "node:test";
import { AppError } from "./errors.ts";
import { checkDescription, checkImageName, checkLaunch } from "./input-rules.ts";
import { checkTags } from "./tag-rules.ts";

const code = (c: string) => (e: unknown) => e instanceof AppError && e.code === c;

test("image names, descriptions, launch counts and user data are bounded wherever they come from", () => {
  checkImageName("golden-1 (web)");
  assert.throws(() => checkImageName("../etc"), code("INVALID_IMAGE_NAME"));
  assert.throws(() => checkImageName("x".repeat(129)), code("INVALID_IMAGE_NAME"));
  assert.throws(() => checkDescription("d".repeat(256)), code("INVALID_DESCRIPTION"));
  checkLaunch(20, "x".repeat(16384));
  assert.throws(() => checkLaunch(21, undefined), code("INVALID_COUNT"));
  assert.throws(() => checkLaunch(1, "é".repeat(8193)), code("USER_DATA_TOO_LARGE"));
});

test("tags hold no control characters, which no XML answer could carry", () => {
  checkTags({ note: "tab\tand\nnewline" });
  assert.throws(() => checkTags({ k: "a\u0001b" }), code("INVALID_TAG"));
  assert.throws(() => checkTags({ "k\u0000": "v" }), code("INVALID_TAG"));
});

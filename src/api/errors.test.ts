import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AppError, conflict } from "../core/errors.ts";
import { toAppError } from "./errors.ts";

describe("error mapping", () => {
  it("keeps an AppError's code and status", () => {
    const e = toAppError(conflict("INVALID_INSTANCE_STATE", "Cannot start instance i-1: it is pending"));
    assert.deepEqual([e.code, e.status], ["INVALID_INSTANCE_STATE", 409]);
  });

  it("turns an unknown field into UNKNOWN_FIELD naming the field", () => {
    const err = Object.assign(new Error("body must NOT have additional properties"), {
      statusCode: 400,
      validationContext: "body",
      validation: [{ keyword: "additionalProperties", instancePath: "", params: { additionalProperty: "colour" } }],
    });
    const e = toAppError(err);
    assert.deepEqual([e.code, e.status, e.message], ["UNKNOWN_FIELD", 400, "Unknown field colour in body"]);
  });

  it("names the field of any other schema failure", () => {
    const err = Object.assign(new Error("x"), {
      statusCode: 400,
      validationContext: "body",
      validation: [{ keyword: "minimum", instancePath: "/count", params: {}, message: "must be >= 1" }],
    });
    const e = toAppError(err);
    assert.deepEqual([e.code, e.message], ["VALIDATION_FAILED", "Invalid body.count: must be >= 1"]);
  });

  it("gives a Fastify 4xx our stable code and a message that does not echo the input", () => {
    const e = toAppError(Object.assign(new Error("Unsupported Media Type: text/<script>"), { statusCode: 415, code: "FST_ERR_CTP_INVALID_MEDIA_TYPE" }));
    assert.deepEqual([e.code, e.status], ["UNSUPPORTED_MEDIA_TYPE", 415]);
    assert.doesNotMatch(e.message, /script/);
    const other = toAppError(Object.assign(new Error("weird"), { statusCode: 400, code: "FST_ERR_SOMETHING_NEW" }));
    assert.deepEqual([other.code, other.status], ["BAD_REQUEST", 400]);
  });

  it("hides the details of unknown errors behind a generic 500", () => {
    const e = toAppError(new TypeError("cannot read properties of undefined"));
    assert.ok(e instanceof AppError);
    assert.deepEqual([e.code, e.status], ["INTERNAL", 500]);
    assert.doesNotMatch(e.message, /undefined/);
  });
});

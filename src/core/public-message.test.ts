import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { badRequest } from "./errors.ts";
import { publicMessage } from "./public-message.ts";

describe("publicMessage", () => {
  it("keeps what an AppError says", () => {
    assert.equal(publicMessage(badRequest("X", "Volume vol-1 is too large")), "Volume vol-1 is too large");
  });

  it("cuts host paths to their last part and keeps one line", () => {
    const err = new Error("qemu-img: Could not open '/var/lib/imagesmith/tmp/upload-op-1': No such file\nmore detail");
    assert.equal(publicMessage(err), "qemu-img: Could not open 'upload-op-1': No such file");
    assert.equal(publicMessage(new Error("backing /etc/shadow refused")), "backing shadow refused");
  });

  it("leaves non-path slashes alone", () => {
    assert.equal(publicMessage(new Error("read 3/10 chunks at 50 MiB/s")), "read 3/10 chunks at 50 MiB/s");
  });
});

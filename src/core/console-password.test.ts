import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { passwordFromConsole } from "./console-password.ts";

const first = Buffer.alloc(256, 1).toString("base64");
const second = Buffer.alloc(256, 2).toString("base64");

describe("passwordFromConsole()", () => {
  it("finds the password EC2Config prints between its tags, wrapped over lines", () => {
    const output = `2026/12/03 07:00:00Z: Username: Administrator\r\n2026/12/03 07:00:00Z: Password: <Password>\r\n${first.slice(0, 76)}\r\n${first.slice(76)}\r\n</Password>\r\nMessage: Windows is Ready to use\r\n`;
    assert.equal(passwordFromConsole(output), first);
  });

  it("takes the last complete one, not one cut off at the end", () => {
    assert.equal(passwordFromConsole(`<Password>${first}</Password>\n<Password>${second}</Password>\n<Password>${first.slice(0, 40)}`), second);
  });

  it("skips tags holding garbage, or more than 4096 characters", () => {
    assert.equal(passwordFromConsole(`<Password>${first}</Password> <Password>not base64!</Password>`), first);
    assert.equal(passwordFromConsole(`<Password>${"QUJD".repeat(1025)}</Password>`), null);
    assert.equal(passwordFromConsole(`<Password>QUJ</Password><Password></Password>`), null, "unpadded or empty");
    assert.equal(passwordFromConsole(`<Password>junk<Password>${second}</Password>`), second, "an unclosed tag does not swallow the next");
  });

  it("finds nothing on a console without a password", () => {
    assert.equal(passwordFromConsole("Booting Windows...\r\nPassword: \r\n"), null);
  });
});

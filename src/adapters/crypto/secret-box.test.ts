import assert from "node:assert/strict";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { FileSecretBox, secretKeyFile } from "./secret-box.ts";

const newDir = () => mkdtemp(join(tmpdir(), "imagesmith-secret-box-"));
const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/** Flips one bit of the given base64 part (1 IV, 2 tag, 3 ciphertext) of a sealed text. */
function flip(sealed: string, part: number): string {
  const parts = sealed.split(":");
  const bytes = Buffer.from(parts[part] ?? "", "base64");
  bytes[0] = (bytes[0] ?? 0) ^ 1;
  parts[part] = bytes.toString("base64");
  return parts.join(":");
}

describe("FileSecretBox", () => {
  it("opens what it sealed, and the sealed text holds no plaintext", async () => {
    const box = await FileSecretBox.open(await newDir());
    const sealed = box.seal(secret);
    assert.match(sealed, /^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    assert.ok(!sealed.includes(secret));
    assert.equal(box.open(sealed), secret);
    assert.equal(box.open(box.seal("")), "");
  });

  it("refuses a sealed text whose ciphertext, tag or IV was altered, or that is not v1", async () => {
    const box = await FileSecretBox.open(await newDir());
    const sealed = box.seal(secret);
    for (const part of [1, 2, 3]) assert.throws(() => box.open(flip(sealed, part)), /fails authentication/, `part ${part}`);
    assert.throws(() => box.open(sealed.replace(/^v1:/, "v2:")), /not in the v1 format/);
    assert.throws(() => box.open(sealed.split(":").slice(0, 3).join(":")), /not in the v1 format/);
    const [v, iv, , ct] = sealed.split(":");
    assert.throws(() => box.open([v, iv, "AAAA", ct].join(":")), /IV or tag is malformed/);
  });

  it("seals one plaintext differently each time (a random IV per seal)", async () => {
    const box = await FileSecretBox.open(await newDir());
    const a = box.seal(secret);
    const b = box.seal(secret);
    assert.notEqual(a, b);
    assert.notEqual(a.split(":")[1], b.split(":")[1]);
    assert.equal(box.open(b), secret);
  });

  it("makes a 32-byte key file of mode 0600 on first open and reuses it after", async () => {
    const dir = await newDir();
    const file = join(dir, secretKeyFile);
    const sealed = (await FileSecretBox.open(dir)).seal(secret);
    const key = await readFile(file);
    assert.equal(key.length, 32);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const again = await FileSecretBox.open(dir);
    assert.equal(again.open(sealed), secret);
    assert.deepEqual(await readFile(file), key);
  });

  it("refuses a box sealed with another key", async () => {
    const sealed = (await FileSecretBox.open(await newDir())).seal(secret);
    const other = await FileSecretBox.open(await newDir());
    assert.throws(() => other.open(sealed), /fails authentication/);
  });

  it("refuses to open a key file that is not 32 bytes, and leaves it as it is", async () => {
    for (const size of [0, 31, 33]) {
      const dir = await newDir();
      const file = join(dir, secretKeyFile);
      await writeFile(file, Buffer.alloc(size, 7), { mode: 0o600 });
      await assert.rejects(FileSecretBox.open(dir), new RegExp(`${secretKeyFile} holds ${size} bytes, not the 32 of an AES-256 key`));
      assert.equal((await readFile(file)).length, size);
    }
  });
});

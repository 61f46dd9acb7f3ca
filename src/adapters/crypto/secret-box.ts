import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmod, open, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { SecretBox } from "../../core/ports.ts";

const keyBytes = 32;
const ivBytes = 12;
const tagBytes = 16;
const version = "v1";

/** The key file's name in the data dir. */
export const secretKeyFile = "access-key-secret.key";

/**
 * Reads the key, or on first start makes it: 32 random bytes, 0600, written
 * with O_EXCL, so an existing key is never overwritten (that would make every
 * sealed secret unreadable), and synced before any secret is sealed with it.
 */
async function readOrCreateKey(file: string): Promise<Buffer> {
  const existing = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (existing) return existing;
  const fh = await open(file, "wx", 0o600).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "EEXIST") return undefined;
    throw err;
  });
  // Another daemon on this data dir made it first: use that one.
  if (!fh) return readFile(file);
  const key = randomBytes(keyBytes);
  try {
    await fh.writeFile(key);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(file, 0o600);
  return key;
}

/**
 * AES-256-GCM with a key file in the data dir. Each seal has its own random
 * 12-byte IV; the text form is `v1:<iv>:<tag>:<ciphertext>`, each base64.
 */
export class FileSecretBox implements SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** The box of DIR/access-key-secret.key, made on first start; refuses a key file that is not 32 bytes. */
  static async open(dataDir: string): Promise<FileSecretBox> {
    const file = join(dataDir, secretKeyFile);
    const key = await readOrCreateKey(file);
    if (key.length !== keyBytes) {
      throw new Error(`Cannot start: ${file} holds ${key.length} bytes, not the ${keyBytes} of an AES-256 key; restore it from a backup (without it, stored access key secrets cannot be read)`);
    }
    return new FileSecretBox(key);
  }

  seal(plain: string): string {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return [version, iv, cipher.getAuthTag(), ciphertext].map((p) => (typeof p === "string" ? p : p.toString("base64"))).join(":");
  }

  open(sealed: string): string {
    const parts = sealed.split(":");
    if (parts.length !== 4 || parts[0] !== version) throw new Error(`Cannot open a sealed secret: it is not in the ${version} format`);
    const [iv, tag, ciphertext] = parts.slice(1).map((p) => Buffer.from(p, "base64"));
    if (iv?.length !== ivBytes || tag?.length !== tagBytes || !ciphertext) throw new Error("Cannot open a sealed secret: its IV or tag is malformed");
    const decipher = createDecipheriv("aes-256-gcm", this.key, iv, { authTagLength: tagBytes });
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
    } catch {
      throw new Error("Cannot open a sealed secret: it fails authentication (altered, or sealed with another key)");
    }
  }
}

import { constants, publicEncrypt, randomBytes } from "node:crypto";
import sshpk from "sshpk";
import { hashPassword } from "../adapters/guest/password-hash.ts";
import { badRequest } from "../core/errors.ts";
import type { AdminPasswordMode, Image, KeyPair } from "../core/types.ts";

export interface PasswordPlan {
  mode: AdminPasswordMode;
  /** What goes on the config drive: a hash, never the plaintext. */
  configDrive: { user: string; hash: string } | null;
  passwordData: string | null;
}

/**
 * random for generalized images with a default user, when an RSA key pair can
 * encrypt it (a password nobody can read back is no use): none without one;
 * specialized images keep what they have.
 */
export function defaultPasswordMode(image: Image, keyPair: KeyPair | null): AdminPasswordMode {
  if (image.osState !== "generalized") return "keep";
  return image.defaultUser && keyPair?.type === "rsa" ? "random" : "none";
}

/**
 * Works out what one instance's admin password will be. The plaintext lives
 * only in this function's buffers, which are zeroed before it returns; what
 * leaves is the hash for the guest and, for random, the RSA ciphertext.
 */
export async function planPassword(options: { image: Image; mode: AdminPasswordMode; keyPair: KeyPair | null; specified: Buffer | null }): Promise<PasswordPlan> {
  const { image, mode, keyPair } = options;
  if (mode === "keep" || mode === "none") return { mode, configDrive: null, passwordData: null };
  if (image.osState === "specialized") {
    // Its seed re-specializes nothing (docs/guest-contract.md), so no password could be set or confirmed.
    throw badRequest("PASSWORD_NEEDS_GENERALIZED_IMAGE", `Image ${image.id} is specialized and keeps its own passwords: launch it with the admin password mode keep or none`);
  }
  if (mode === "specify") {
    const plain = options.specified;
    if (!plain || plain.length < 8) throw badRequest("INVALID_PASSWORD", "A specified admin password must have at least 8 characters");
    try {
      return { mode, configDrive: { user: image.defaultUser, hash: await hashPassword(plain) }, passwordData: null };
    } finally {
      plain.fill(0);
    }
  }
  if (keyPair?.type !== "rsa") {
    throw badRequest("PASSWORD_NEEDS_RSA_KEY", "A random admin password is encrypted with the key pair's RSA key: launch with an RSA key pair, or choose --admin-password keep|none");
  }
  const plain = Buffer.from(randomBytes(18).toString("base64url"));
  try {
    const pem = sshpk.parseKey(keyPair.publicKey, "ssh").toString("pkcs8");
    const passwordData = publicEncrypt({ key: pem, padding: constants.RSA_PKCS1_PADDING }, plain).toString("base64");
    return { mode, configDrive: { user: image.defaultUser, hash: await hashPassword(plain) }, passwordData };
  } finally {
    plain.fill(0);
  }
}

import { constants, publicEncrypt, randomBytes } from "node:crypto";
import sshpk from "sshpk";
import { hashPassword } from "../adapters/guest/password-hash.ts";
import { badRequest } from "../core/errors.ts";
import type { AdminPassword, AdminPasswordMode, Image, KeyPair } from "../core/types.ts";

export interface PasswordPlan {
  mode: AdminPasswordMode;
  /** What goes on the config drive: a hash, never the plaintext. */
  configDrive: { user: string; hash: string } | null;
  passwordData: string | null;
  /**
   * Windows: the password sealed by the SecretBox, which the guest's answer file fetches
   * from its own metadata endpoint (Windows takes no hash). Never on the drive.
   */
  sealedForGuest: string | null;
}

const none = { configDrive: null, passwordData: null, sealedForGuest: null };

/**
 * random for generalized images with a default user, when an RSA key pair can
 * encrypt it (a password nobody can read back is no use): none without one;
 * specialized images keep what they have.
 */
export function defaultPasswordMode(image: Image, keyPair: KeyPair | null): AdminPasswordMode {
  if (image.osState !== "generalized") return "keep";
  // OCI's imageType: custom keeps the user and its password; general makes a new one, retrievable without a key.
  if (image.imageType === "custom") return "keep";
  if (image.imageType === "general") return "random";
  return image.defaultUser && keyPair?.type === "rsa" ? "random" : "none";
}

/** Windows' default complexity rule: at least 8 characters, from at least three of upper, lower, digit and symbol. */
export function meetsWindowsComplexity(plain: Buffer): boolean {
  const s = plain.toString("utf8");
  const classes = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(s)).length;
  return s.length >= 8 && classes >= 3;
}

/** A random password that meets Windows' rule whatever the draw: 24 base64url characters and one of each class. */
function randomPassword(windows: boolean): Buffer {
  const body = randomBytes(18).toString("base64url");
  if (!windows) return Buffer.from(body);
  const pick = (set: string) => set[randomBytes(1)[0]! % set.length]!;
  return Buffer.from(`${body}${pick("ABCDEFGHJKLMNPQRSTUVWXYZ")}${pick("abcdefghijkmnopqrstuvwxyz")}${pick("23456789")}${pick("!#%+-.:=@^_")}`);
}

/**
 * Works out what one instance's admin password will be. The plaintext lives
 * only in this function's buffers, which are zeroed before it returns; what
 * leaves is the hash for the guest and, for random, the RSA ciphertext.
 */
export async function planPassword(options: { image: Image; mode: AdminPasswordMode; keyPair: KeyPair | null; specified: Buffer | null; seal: (plain: string) => string }): Promise<PasswordPlan> {
  const { image, mode, keyPair } = options;
  if (mode === "keep" || mode === "none") return { mode, ...none };
  if (image.osState === "specialized") {
    // Its seed re-specializes nothing (docs/guest-contract.md), so no password could be set or confirmed.
    throw badRequest("PASSWORD_NEEDS_GENERALIZED_IMAGE", `Image ${image.id} is specialized and keeps its own passwords: launch it with the admin password mode keep or none`);
  }
  const windows = image.osType === "windows";
  if (mode === "specify") {
    const plain = options.specified;
    if (!plain || plain.length < 8) throw badRequest("INVALID_PASSWORD", "A specified admin password must have at least 8 characters");
    if (windows && !meetsWindowsComplexity(plain)) {
      plain.fill(0);
      throw badRequest("INVALID_PASSWORD", "A Windows admin password needs at least 8 characters from three of: upper case, lower case, digits, symbols");
    }
    if (windows && plain.includes(0x22)) {
      plain.fill(0);
      // The answer file hands it to net.exe from PowerShell 5.1, which passes a double quote on badly.
      throw badRequest("INVALID_PASSWORD", "A Windows admin password must not contain a double quote (\")");
    }
    try {
      if (windows) return { mode, ...none, sealedForGuest: options.seal(plain.toString("utf8")) };
      return { mode, ...none, configDrive: { user: image.defaultUser, hash: await hashPassword(plain) } };
    } finally {
      plain.fill(0);
    }
  }
  // OCI's general image: the password is retrievable with get-credentials, so no key pair is needed.
  const retrievable = windows && image.imageType === "general";
  if (keyPair?.type !== "rsa" && !retrievable) {
    throw badRequest("PASSWORD_NEEDS_RSA_KEY", "A random admin password is encrypted with the key pair's RSA key: launch with an RSA key pair, or choose --admin-password keep|none");
  }
  const plain = randomPassword(windows);
  try {
    const passwordData = keyPair?.type === "rsa" ? publicEncrypt({ key: sshpk.parseKey(keyPair.publicKey, "ssh").toString("pkcs8"), padding: constants.RSA_PKCS1_PADDING }, plain).toString("base64") : null;
    if (windows) return { mode, ...none, passwordData, sealedForGuest: options.seal(plain.toString("utf8")) };
    return { mode, ...none, configDrive: { user: image.defaultUser, hash: await hashPassword(plain) }, passwordData };
  } finally {
    plain.fill(0);
  }
}

/**
 * The guest chose its password itself and handed it in encrypted with the key
 * pair (cloudbase-init's POST, or an EC2-style agent's <Password> on the
 * console): that is the password now, and any that imagesmith chose is void.
 */
export function guestChosePassword(p: AdminPassword, passwordData: string, at: string): AdminPassword {
  return { ...p, passwordData, setAt: p.setAt ?? at, sealedForGuest: null };
}

/**
 * The answer file confirmed that it set the password it fetched. A specified
 * one is wiped (EC2Launch removes it after first boot); the random one of an
 * OCI general image stays sealed, for get-credentials.
 */
export function guestSetPassword(p: AdminPassword, image: Image, at: string): AdminPassword {
  const keep = p.mode === "random" && image.imageType === "general";
  return { ...p, setAt: p.setAt ?? at, sealedForGuest: keep ? (p.sealedForGuest ?? null) : null };
}

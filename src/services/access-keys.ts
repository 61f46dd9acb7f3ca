import { randomBytes } from "node:crypto";
import { badRequest, conflict, notFound } from "../core/errors.ts";
import { isAccessKeyId, newAccessKeyId, type AccessKeyId } from "../core/ids.ts";
import type { Catalog, SecretBox } from "../core/ports.ts";
import type { AccessKey } from "../core/types.ts";

/** What callers see of an access key: never its secret, sealed or not. */
export interface AccessKeySummary {
  accessKeyId: AccessKeyId;
  createdAt: string;
  lastUsedAt: string | null;
}

/** How many access keys may exist at once. */
export const maxAccessKeys = 100;
/** lastUsedAt is written at most this often, so a busy client does not write on each call. */
const markUsedEveryMs = 60_000;

const summary = (k: AccessKey): AccessKeySummary => ({ accessKeyId: k.id, createdAt: k.createdAt, lastUsedAt: k.lastUsedAt });

/**
 * Access keys for the EC2 endpoint. SigV4 needs the secret itself, so it is
 * stored sealed (SecretBox) and opened only for the verifier; it is returned
 * in plain once, by create().
 */
export class AccessKeys {
  /** When this process last wrote each key's lastUsedAt (at most 100 keys exist). */
  private readonly markedAt = new Map<string, number>();

  constructor(
    private readonly catalog: Catalog,
    private readonly secrets: SecretBox,
  ) {}

  /** A new key; the secret (40 characters, as AWS's) is in the answer and nowhere else in plain. */
  create(): { accessKey: AccessKeySummary; secretAccessKey: string } {
    const secretAccessKey = randomBytes(30).toString("base64");
    const key: AccessKey = {
      id: newAccessKeyId(),
      sealedSecret: this.secrets.seal(secretAccessKey),
      createdAt: new Date().toISOString(),
      lastUsedAt: null,
    };
    this.catalog.transaction(() => {
      if (this.catalog.accessKeys.list().length >= maxAccessKeys) {
        throw conflict("ACCESS_KEY_LIMIT", `Cannot create an access key: there are ${maxAccessKeys} already, the most allowed; delete one first`);
      }
      this.catalog.accessKeys.insert(key);
    });
    return { accessKey: summary(key), secretAccessKey };
  }

  list(): AccessKeySummary[] {
    return this.catalog.accessKeys.list().map(summary);
  }

  delete(accessKeyId: string): void {
    if (!isAccessKeyId(accessKeyId)) {
      throw badRequest("INVALID_ACCESS_KEY_ID", "That is not an access key id: those are AKIA and 16 characters of A-Z and 2-7");
    }
    if (!this.catalog.accessKeys.get(accessKeyId)) throw notFound("ACCESS_KEY_NOT_FOUND", `Access key ${accessKeyId} does not exist`);
    this.catalog.accessKeys.delete(accessKeyId);
    this.markedAt.delete(accessKeyId);
  }

  /**
   * The secret of a key, for the SigV4 verifier; undefined for an id that is
   * malformed or unknown. Throws when the sealed secret cannot be opened (the
   * catalog or the key file was altered): that is not the caller's fault.
   */
  secretFor(accessKeyId: string): string | undefined {
    const key = isAccessKeyId(accessKeyId) ? this.catalog.accessKeys.get(accessKeyId) : undefined;
    return key && this.secrets.open(key.sealedSecret);
  }

  /** Records that a key signed a request; written at most once a minute per key (or when the clock went back). */
  markUsed(accessKeyId: string, now: Date = new Date()): void {
    // Known recent from this process: no catalog read on every signed request.
    const marked = this.markedAt.get(accessKeyId);
    if (marked !== undefined && now.getTime() >= marked && now.getTime() - marked < markUsedEveryMs) return;
    const key = isAccessKeyId(accessKeyId) ? this.catalog.accessKeys.get(accessKeyId) : undefined;
    if (!key) return;
    if (key.lastUsedAt !== null && Math.abs(now.getTime() - Date.parse(key.lastUsedAt)) < markUsedEveryMs) {
      this.markedAt.set(accessKeyId, Date.parse(key.lastUsedAt));
      return;
    }
    this.catalog.accessKeys.update({ ...key, lastUsedAt: now.toISOString() });
    this.markedAt.set(accessKeyId, now.getTime());
  }
}

import { availableParallelism } from "node:os";
import { generateRsaKey } from "../adapters/crypto/rsa-key.ts";
import { concurrencyLimit } from "../core/concurrency-limit.ts";
import sshpk from "sshpk";
import { badRequest, conflict, notFound } from "../core/errors.ts";
import { newId, type KeyPairId } from "../core/ids.ts";
import type { Catalog } from "../core/ports.ts";
import type { KeyPair } from "../core/types.ts";

/** RSA generation is CPU-bound: at most one key per core but one, at the lowest priority. */
const keyGeneration = concurrencyLimit(Math.max(1, availableParallelism() - 1));

const namePattern = /^[A-Za-z0-9._-]{1,255}$/;

function checkName(catalog: Catalog, name: string): void {
  if (!namePattern.test(name)) {
    throw badRequest("INVALID_KEYPAIR_NAME", `Key pair name ${JSON.stringify(name)} may hold only letters, digits, '.', '_' and '-'`);
  }
  if (catalog.keyPairs.list().some((k) => k.name === name)) {
    throw conflict("KEYPAIR_EXISTS", `Key pair ${name} already exists`);
  }
}

function record(name: string, key: sshpk.Key): KeyPair {
  if (key.type !== "rsa" && key.type !== "ed25519") {
    throw badRequest("UNSUPPORTED_KEY_TYPE", `Key type ${key.type} is not supported: use rsa or ed25519`);
  }
  if (key.type === "rsa" && key.size < 2048) {
    throw badRequest("UNSUPPORTED_KEY_TYPE", `RSA keys must have at least 2048 bits, this one has ${key.size}`);
  }
  return {
    id: newId<KeyPairId>("keyPair"),
    name,
    type: key.type,
    publicKey: `${key.toString("ssh").split(" ").slice(0, 2).join(" ")} ${name}`,
    fingerprint: key.fingerprint("sha256").toString(),
    createdAt: new Date().toISOString(),
  };
}

export class KeyPairs {
  constructor(private readonly catalog: Catalog) {}

  /**
   * Generates an RSA key pair. The private key is returned once, to the
   * caller, and is never stored or logged here. The key is generated in a
   * niced openssl process, so the daemon keeps answering meanwhile; the
   * name is checked again, with the insert, once it is there.
   */
  async create(name: string): Promise<{ keyPair: KeyPair; privateKey: string }> {
    checkName(this.catalog, name);
    const privateKey = await keyGeneration(generateRsaKey);
    const keyPair = record(name, sshpk.parsePrivateKey(privateKey, "pem").toPublic());
    this.catalog.transaction(() => {
      checkName(this.catalog, name);
      this.catalog.keyPairs.insert(keyPair);
    });
    return { keyPair, privateKey };
  }

  import(name: string, publicKey: string): KeyPair {
    checkName(this.catalog, name);
    if (/PRIVATE KEY/.test(publicKey)) {
      throw badRequest("INVALID_PUBLIC_KEY", "That is a private key: import only the public key");
    }
    let key: sshpk.Key;
    try {
      key = sshpk.parseKey(publicKey.trim(), "auto");
    } catch (err) {
      throw badRequest("INVALID_PUBLIC_KEY", `The public key cannot be parsed: ${(err as Error).message}`);
    }
    const keyPair = record(name, key);
    this.catalog.keyPairs.insert(keyPair);
    return keyPair;
  }

  get(name: string): KeyPair {
    const k = this.catalog.keyPairs.list().find((x) => x.name === name);
    if (!k) throw notFound("KEYPAIR_NOT_FOUND", `Key pair ${name} does not exist`);
    return k;
  }

  list(): KeyPair[] {
    return this.catalog.keyPairs.list();
  }

  delete(name: string): void {
    this.catalog.keyPairs.delete(this.get(name).id);
  }
}

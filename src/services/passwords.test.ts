import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import sshpk from "sshpk";
import { records } from "../../test/offline-services.ts";
import type { KeyPair } from "../core/types.ts";
import { defaultPasswordMode, meetsWindowsComplexity, planPassword } from "./passwords.ts";

const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsa: KeyPair = {
  id: "key-00000000000000000" as KeyPair["id"],
  name: "k",
  type: "rsa",
  publicKey: sshpk.parseKey(publicKey.export({ type: "spki", format: "pem" }), "pem").toString("ssh"),
  fingerprint: "",
  createdAt: "",
};
/** What a user does with the key: openssl, as `instance get-password` (Node no longer decrypts PKCS#1 v1.5). */
function decrypt(base64: string): string {
  const dir = mkdtempSync(join(tmpdir(), "imagesmith-pw-"));
  try {
    writeFileSync(join(dir, "key.pem"), privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    return execFileSync("openssl", ["pkeyutl", "-decrypt", "-inkey", join(dir, "key.pem"), "-pkeyopt", "rsa_padding_mode:pkcs1"], { input: Buffer.from(base64, "base64") }).toString();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
/** A reversible stand-in for the SecretBox: what matters here is that nothing plain is kept. */
const seal = (plain: string) => `sealed:${Buffer.from(plain).toString("hex")}`;
const unseal = (sealed: string) => Buffer.from(sealed.slice("sealed:".length), "hex").toString();
const windowsImage = (fields: Partial<ReturnType<typeof records.image>> = {}) => records.image("ami-00000000000000001", { osType: "windows", osState: "generalized", defaultUser: "Administrator", ...fields });

describe("admin passwords of Windows launches", () => {
  it("seals a random password for the guest, encrypts it for GetPasswordData, and puts nothing on the drive", async () => {
    const plan = await planPassword({ image: windowsImage({ imageType: null }), mode: "random", keyPair: rsa, specified: null, seal });
    assert.equal(plan.configDrive, null, "Windows takes no hash on the drive");
    const plain = unseal(plan.sealedForGuest ?? "");
    assert.ok(meetsWindowsComplexity(Buffer.from(plain)), `${plain.length} characters of three classes or more`);
    assert.equal(decrypt(plan.passwordData ?? ""), plain);
  });

  it("seals a specified password, and refuses one that Windows would refuse", async () => {
    const plan = await planPassword({ image: windowsImage(), mode: "specify", keyPair: null, specified: Buffer.from("Correct-Horse-7"), seal });
    assert.equal(unseal(plan.sealedForGuest ?? ""), "Correct-Horse-7");
    assert.equal(plan.passwordData, null);
    const weak = Buffer.from("alllowercase");
    await assert.rejects(planPassword({ image: windowsImage(), mode: "specify", keyPair: null, specified: weak, seal }), { code: "INVALID_PASSWORD", message: /three of/ });
    assert.ok(weak.every((b) => b === 0), "the refused plaintext is wiped too");
  });

  it("makes a password without a key pair for an OCI general image, and keeps the user's for a custom one", async () => {
    const general = windowsImage({ imageType: "general" });
    assert.equal(defaultPasswordMode(general, null), "random");
    const plan = await planPassword({ image: general, mode: "random", keyPair: null, specified: null, seal });
    assert.ok(plan.sealedForGuest);
    assert.equal(plan.passwordData, null, "nothing to encrypt it with: get-credentials serves it");
    assert.equal(defaultPasswordMode(windowsImage({ imageType: "custom" }), rsa), "keep");
    await assert.rejects(planPassword({ image: windowsImage({ imageType: null }), mode: "random", keyPair: null, specified: null, seal }), { code: "PASSWORD_NEEDS_RSA_KEY" });
  });
});

import { spawn } from "node:child_process";

/**
 * A new RSA-2048 private key, PKCS#1 PEM (what EC2's CreateKeyPair returns),
 * made by `openssl genrsa` at the lowest CPU priority: key generation is
 * seconds of pure CPU, and on a small host the daemon's event loop and the
 * VMs come first. The key travels over a pipe only, never a file.
 */
export function generateRsaKey(): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn("nice", ["-n", "19", "openssl", "genrsa", "-traditional", "2048"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    p.stderr.setEncoding("utf8").on("data", (c: string) => (err = (err + c).slice(-2048)));
    p.on("error", reject);
    p.on("close", (code) => {
      if (code === 0 && out.startsWith("-----BEGIN RSA PRIVATE KEY-----")) resolve(out);
      else reject(new Error(`openssl genrsa failed: ${err.trim() || `exit ${code}`}`));
    });
  });
}
